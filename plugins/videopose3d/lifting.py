"""VideoPose3D for ``lifting3d``: 2D keypoint sequences → root-relative 3D poses in mm.

As the reference (``run.py``, ``common/camera.py``, ``common/generators.py``):

* 2D inputs in screen coordinates normalised by the camera's frame width,
  ``X / w · 2 − [1, h / w]`` (width to [−1, 1], aspect ratio kept);
* targets: the camera-frame 3D pose relative to the root joint, in metres; loss MPJPE;
* flip augmentation: x ↦ −x for the 2D input and the 3D target, left/right joints swapped;
  at test time the prediction on the flipped input is flipped back and averaged in.
"""

from __future__ import annotations

import numpy as np
import torch

from kpbench.errors import DataError
from kpbench_plugins.videopose3d.temporal import TemporalMethod


def normalize_screen(xy: np.ndarray, size) -> np.ndarray:
    """Pixels ``(x, y)`` of a ``(w, h)`` frame → ``x / w · 2 − 1``, ``y / w · 2 − h / w``."""
    w, h = float(size[0]), float(size[1])
    return np.asarray(xy, np.float64) / w * 2 - np.array([1.0, h / w])


def _swap(order_len: int, pairs) -> list[int]:
    order = list(range(order_len))
    for a, b in pairs:
        order[a], order[b] = b, a
    return order


class LiftingMethod(TemporalMethod):
    """The temporal model lifting K joints in to K joints out."""

    def __init__(self, config: dict, joints: int):
        self.joints = int(joints)
        super().__init__(config, self.joints * 2, self.joints * 3)
        self.flip_pairs: list[tuple[int, int]] = []

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """MPJPE: mean L2 over joints and frames (metres)."""
        n = len(pred)
        return torch.linalg.norm(pred.view(n, -1, 3) - target.view(n, -1, 3), dim=-1).mean()

    def flip_batch(self, x, y, flip):
        if not flip.any() or not self.config["flip_augment"]:
            return x, y
        order = _swap(self.joints, self.flip_pairs)
        x, y = x.copy(), y.copy()
        xf = x[flip].reshape(int(flip.sum()), self.rf, self.joints, 2)
        xf[..., 0] *= -1
        x[flip] = xf[:, :, order].reshape(int(flip.sum()), self.rf, -1)
        yf = y[flip]
        yf[..., 0] *= -1
        y[flip] = yf[:, order]
        return x, y

    def _sequence(self, seq: dict) -> np.ndarray:
        kp = np.asarray(seq["keypoints2d"], np.float64)
        if kp.ndim != 3 or kp.shape[1] != self.joints:
            raise DataError(
                f"sequence {seq.get('name')}: {kp.shape[1] if kp.ndim == 3 else '?'} joints, "
                f"the model lifts {self.joints}; keep one skeleton per dataset"
            )
        size = seq["camera"]["size"]
        return normalize_screen(kp, size).reshape(len(kp), -1).astype(np.float32)

    def fit(self, data, ctx) -> None:
        seqs = data.sequences3d("train")
        if not seqs:
            raise DataError(
                f"dataset {data.name}: no train-split sequences to train the lifting on"
            )
        self.flip_pairs = [tuple(p) for p in data.left_right()]
        ctx.note("flip_pairs", [list(p) for p in self.flip_pairs])
        cap = self.config["max_frames_per_sequence"]
        inputs, targets = [], []
        for seq in seqs:
            x = self._sequence(seq)
            y = np.asarray(seq["keypoints3d"], np.float64)
            y = (y - y[:, :1]) / 1000.0  # root-relative, metres (the reference's units)
            if cap:
                x, y = x[:cap], y[:cap]
            inputs.append(x)
            targets.append(y.astype(np.float32))
        ctx.note("train_sequences", len(seqs))
        self.train_loop(inputs, targets, None, ctx)

    def predict(self, inputs, ctx) -> dict:
        """Root-relative 3D poses (mm) of every frame of every input sequence, in order."""
        out = []
        order = _swap(self.joints, self.flip_pairs)
        for seq in inputs:
            x = self._sequence(seq)
            y = self.run_sequence(x).reshape(len(x), self.joints, 3)
            if self.config["test_flip"]:
                xf = x.reshape(len(x), self.joints, 2).copy()
                xf[..., 0] *= -1
                yf = self.run_sequence(xf[:, order].reshape(len(x), -1))
                yf = yf.reshape(len(x), self.joints, 3)[:, order]
                yf[..., 0] *= -1
                y = 0.5 * (y + yf)
            out.append((y - y[:, :1]) * 1000.0)
        empty = np.zeros((0, self.joints, 3))
        return {"keypoints3d": np.concatenate(out) if out else empty}

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "flip_pairs": [list(p) for p in self.flip_pairs]}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.flip_pairs = [tuple(p) for p in state.get("flip_pairs", [])]
