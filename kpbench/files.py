"""What a dataset did with each file of its data folder: used, ignored (why) or skipped (error).

A dataset keeps a :class:`FileLedger` (also importable from :mod:`kpbench.dataset`) and puts
:meth:`FileLedger.as_dict` in ``notes["files"]``, so the run record holds ``record["data"]["files"]``
and the console summary can repeat what was skipped.
"""

from __future__ import annotations

from pathlib import Path


class FileLedger:
    """What a dataset did with each file of its data folder: used, ignored (why) or skipped (error).

    A dataset keeps one and puts :meth:`as_dict` in ``notes["files"]``, so the run record holds
    ``record["data"]["files"] = {"used": {rel: facts}, "ignored": {rel: why}, "skipped": {rel:
    error}}`` (paths relative to the data folder) and the console summary repeats what was skipped.

    Args:
        root: the data folder the paths are made relative to.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._used: dict[str, dict] = {}
        self._ignored: dict[str, str] = {}
        self._skipped: dict[str, str] = {}

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the data folder (as is when it lies outside), printable."""
        import os

        try:
            rel = Path(path).relative_to(self.root).as_posix()
        except ValueError:
            rel = str(path)
        return os.fsencode(rel).decode("utf-8", "backslashreplace")  # a non-UTF-8 name: escapes

    def used(self, path: Path | str, **facts) -> None:
        """``path`` was read; ``facts`` (JSON-able: frames, labels, ...) describe what it gave."""
        self._used.setdefault(self.rel(path), {}).update(facts)

    def ignored(self, path: Path | str, why: str) -> None:
        """``path`` was deliberately not read, for reason ``why``."""
        self._ignored[self.rel(path)] = str(why)

    def skipped(self, path: Path | str, error: str) -> None:
        """``path`` should have been read but could not be (``error``); logs one warning line."""
        import logging

        rel = self.rel(path)
        error = " ".join(str(error).split())
        self._skipped[rel] = error
        logging.getLogger(__name__).warning("skipped %s: %s", rel, error)

    def as_dict(self) -> dict[str, dict]:
        """``{"used": {rel: facts}, "ignored": {rel: why}, "skipped": {rel: error}}``, sorted."""
        return {
            "used": {k: dict(self._used[k]) for k in sorted(self._used)},
            "ignored": dict(sorted(self._ignored.items())),
            "skipped": dict(sorted(self._skipped.items())),
        }
