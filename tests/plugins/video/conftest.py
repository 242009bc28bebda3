"""A tiny synthetic pen clip per test session, and writers of small test videos and images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kpbench_plugins.video.synth import synthesize

TINY = {"frames": 60, "width": 96, "height": 96}


@pytest.fixture(scope="session")
def pen_clip(tmp_path_factory) -> Path:
    """``pen.mp4`` + ``pen.slp``: 60 frames at 96 × 96 px, seed 0 (read it, do not change it)."""
    return synthesize(tmp_path_factory.mktemp("pen") / "clip", 0, scene="pen", **TINY)


@pytest.fixture
def pen_copy(pen_clip, tmp_path) -> Path:
    """A private copy of the pen clip that a test may add files to."""
    return Path(shutil.copytree(pen_clip, tmp_path / "clips"))


def _write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48)) -> Path:
    """A small mp4v video of a moving bright bar; returns ``path``."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    for t in range(frames):
        img = np.full((h, w, 3), 30, np.uint8)
        img[:, (4 * t) % w : (4 * t) % w + 6] = 220
        writer.write(img)
    writer.release()
    return path


def _write_image(path: Path, size: tuple[int, int] = (40, 30), value: int = 128) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))
    return path


@pytest.fixture
def write_video():
    """``write_video(path, frames=12, size=(W, H))``: a small readable mp4."""
    return _write_video


@pytest.fixture
def write_image():
    """``write_image(path, size=(W, H), value=128)``: a flat grey PNG/JPEG."""
    return _write_image
