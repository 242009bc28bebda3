"""The walk over a ``video`` data folder: which files are videos, frame folders, label files,
and which are none of these (listed as not read unless a reader uses them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kpbench.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES


@dataclass
class Found:
    """What a walk over the folder found."""

    videos: list[Path] = field(default_factory=list)
    slp: list[Path] = field(default_factory=list)
    coco: list[Path] = field(default_factory=list)
    dlc: list[Path] = field(default_factory=list)
    ignored: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)
    others: list[Path] = field(default_factory=list)  # files of no kind above (maybe read later)


def _skip_dir(name: str) -> bool:
    return name.startswith((".", "__")) or name.lower() == "cache"


def discover(root: Path, use_predictions: bool = False) -> Found:
    """Walk ``root`` for videos, frame folders and label files (sorted, deterministic).

    ``*.predictions.slp`` files (SLEAP model output) are label files with ``use_predictions``,
    else ignored with the reason."""
    found = Found()
    for here, dirs, files in os.walk(root):
        folder = Path(here)
        if "labeled-data" in dirs:
            found.dlc.append(folder)
        dirs[:] = sorted(d for d in dirs if d != "labeled-data" and not _skip_dir(d))
        for name in sorted(files):
            path, low = folder / name, name.lower()
            if path.suffix.lower() in VIDEO_SUFFIXES:
                found.videos.append(path)
            elif low.endswith(".predictions.slp") and not use_predictions:
                found.ignored.append(
                    (
                        path,
                        "SLEAP model predictions; count them as labels with --set data.use_predictions=true",
                    )
                )
            elif low.endswith(".slp"):
                found.slp.append(path)
            elif low.endswith(".json") and ("keypoints" in low or folder.name == "annotations"):
                found.coco.append(path)
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                found.others.append(path)
        if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files):
            found.videos.append(folder)
            if folder != root:
                dirs[:] = []  # a folder of frames is one video
    found.videos.sort()
    return found
