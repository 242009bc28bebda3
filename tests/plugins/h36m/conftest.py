"""One small Human3.6M twin per test session, and a writer of hand-made VideoPose3D npz pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kpbench_plugins.h36m.synth import synthesize

#: 7 subjects × 2 actions × 2 takes × 60 frames, plus a noisy 2D file.
TINY = {"frames": 60, "actions": 2, "takes": 2, "noise_px": 1.5}
H36M_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


@pytest.fixture(scope="session")
def twin(tmp_path_factory) -> Path:
    """The twin of :data:`TINY`, seed 0 (read it, do not change it)."""
    return synthesize(tmp_path_factory.mktemp("h36m") / "twin", 0, **TINY)


def write_pair(root: Path, poses3d: dict, poses2d: dict, metadata=None, detector: str = "gt"):
    """Write ``data_3d_h36m.npz`` and ``data_2d_h36m_<detector>.npz`` as VideoPose3D does."""
    root.mkdir(parents=True, exist_ok=True)
    meta = {"num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY} if metadata is None else metadata
    np.savez_compressed(root / "data_3d_h36m.npz", positions_3d=poses3d)
    np.savez_compressed(root / f"data_2d_h36m_{detector}.npz", positions_2d=poses2d, metadata=meta)
    return root


def numbered_poses(frames: int) -> np.ndarray:
    """(frames, 32, 3) metres where joint j of frame f is (j, f, 1 + j / 100) / 10: every value known."""
    f, j = np.meshgrid(np.arange(frames), np.arange(32), indexing="ij")
    return (np.stack([j, f, 1 + j / 100], -1) / 10).astype(np.float32)


def flat_views(frames: int, joints: int = 17, cameras: int = 4) -> list[np.ndarray]:
    """``cameras`` arrays (frames, joints, 2) px; camera c holds the value c everywhere."""
    return [np.full((frames, joints, 2), float(c), np.float32) for c in range(cameras)]
