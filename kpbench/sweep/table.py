"""The live table of a sweep: queued / running / finished / failed per cell.

On a terminal the table is redrawn in place (counts, then the running and failed cells); into
a file or pipe each change is one plain line, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from kpbench.sweep.suite import Cell

STATES = ("queued", "running", "finished", "failed", "skipped")


class LiveTable:
    """Track and show each cell's state; safe to update from several threads."""

    def __init__(self, cells: list[Cell], stream: TextIO | None = None):
        self.cells = {c.id: c for c in cells}
        self.state = dict.fromkeys(self.cells, "queued")
        self.errors: dict[str, str] = {}
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for v in self.state.values() if v == s) for s in STATES}

    def summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.counts().items() if n or s != "skipped")

    def set(self, cell_id: str, state: str, error: str | None = None) -> None:
        with self._lock:
            if self.state.get(cell_id) == state:
                return
            self.state[cell_id] = state
            if error:
                self.errors[cell_id] = error
            if self.tty:
                self._redraw()
            else:
                line = f"sweep: {cell_id} ({self.cells[cell_id].label()}) {state}"
                line += f": {error}" if error else ""
                print(f"{line}  [{self.summary()}]", file=self.stream, flush=True)

    def _redraw(self) -> None:
        rows = [f"sweep: {self.summary()}"]
        for cid, st in self.state.items():
            if st in ("running", "failed"):
                tail = f": {self.errors[cid]}" if cid in self.errors else ""
                rows.append(f"  {st:<8} {cid}  {self.cells[cid].label()}{tail}")
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        text = "".join(f"\x1b[2K{row[:200]}\n" for row in rows)
        blank = "\x1b[2K\n" * max(self._drawn - len(rows), 0)
        self.stream.write(up + text + blank)
        self.stream.flush()
        self._drawn = max(len(rows), self._drawn)

    def report(self) -> list[str]:
        """Final lines: the counts, then one line per failed cell with its error."""
        lines = [f"sweep: {self.summary()}"]
        for cid, st in self.state.items():
            if st == "failed":
                lines.append(f"  failed {cid} ({self.cells[cid].label()}): {self.errors.get(cid)}")
        return lines
