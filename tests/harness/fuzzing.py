"""What every fuzz test of a reader checks (issue #13): a refused file is one printable line
that names it, and a fuzzed file is written under the (possibly non-UTF-8) name drawn for it."""

from __future__ import annotations

import os
from pathlib import Path


def write_fuzzed(tmp_path_factory, folder: str, name: bytes, raw: bytes) -> Path:
    """``raw`` written to a fresh folder under the file name ``name`` (bytes, as the OS has it)."""
    path = tmp_path_factory.mktemp(folder) / os.fsdecode(name)
    path.write_bytes(raw)
    return path


def one_line_naming(exc: Exception, *names: str) -> str:
    """The error's message, after checking it is one line, names each of ``names`` and can be
    printed as the CLI prints it (non-UTF-8 names escaped, not crashing the console)."""
    message = str(exc)
    assert message.strip() and "\n" not in message, message
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    message.encode("utf-8", "backslashreplace")
    return message
