"""VideoPose3D's temporal convolutions for ``behavior``: per-frame classes from keypoint sequences.

The same network reads every animal's keypoints per frame (``A × K × 2`` features) and gives
class logits per frame. Inputs are scaled per axis to [−1, 1] by the training split's keypoint
range (in effect the CalMS21 baselines' x / frame width, y / frame height, which a sequence
does not carry); a missing keypoint takes its last seen value (0 before any). The loss is
cross-entropy, unweighted as in the CalMS21 1D-conv baseline (its scripts pass no Keras
``class_weight``), or with "balanced" weights n / (C · count) (``class_weights: balanced``);
frames without a label (−1) are not trained on.
"""

from __future__ import annotations

import numpy as np
import torch

from kpbench.errors import ConfigError, DataError
from kpbench_plugins.videopose3d.temporal import TemporalMethod


def fill_missing(kp: np.ndarray) -> np.ndarray:
    """Carry each coordinate's last finite value forward over NaN frames (0 before the first)."""
    x = np.asarray(kp, np.float64).reshape(len(kp), -1).copy()
    finite = np.isfinite(x)
    idx = np.where(finite, np.arange(len(x))[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = x[idx, np.arange(x.shape[1])]
    seen = np.maximum.accumulate(finite, axis=0)
    return np.where(seen, out, 0.0).reshape(kp.shape)


class BehaviorMethod(TemporalMethod):
    """The temporal model classifying every frame into one of ``classes``."""

    def __init__(self, config: dict, animals: int, keypoints: int, classes: int):
        self.shape = (int(animals), int(keypoints))
        self.classes = int(classes)
        super().__init__(config, self.shape[0] * self.shape[1] * 2, self.classes)
        self.lo = np.zeros(2, np.float32)
        self.hi = np.ones(2, np.float32)
        self.class_weights = torch.ones(self.classes)
        self._frames: list[np.ndarray] | None = None  # labelled frames per training sequence

    def _features(self, seq: dict) -> np.ndarray:
        kp = np.asarray(seq["keypoints"], np.float64)
        if kp.ndim != 4 or kp.shape[1:3] != self.shape:
            raise DataError(
                f"sequence {seq.get('name')}: keypoints {kp.shape}, the model reads "
                f"(T, {self.shape[0]}, {self.shape[1]}, 2); keep one skeleton per dataset"
            )
        x = (fill_missing(kp) - self.lo) / np.maximum(self.hi - self.lo, 1e-9) * 2 - 1
        return x.reshape(len(kp), -1).astype(np.float32)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = self.class_weights.to(pred.device)
        return torch.nn.functional.cross_entropy(pred, target.long(), weight=w)

    def fit(self, data, ctx) -> None:
        seqs = [s for s in data.sequences("train") if s["labels"] is not None]
        if not seqs:
            raise DataError(f"dataset {data.name}: no labelled train-split sequence for behavior")
        every = np.concatenate(
            [np.asarray(s["keypoints"], np.float64).reshape(-1, 2) for s in seqs]
        )
        every = every[np.isfinite(every).all(1)]
        self.lo, self.hi = every.min(0).astype(np.float32), every.max(0).astype(np.float32)
        labels = [np.asarray(s["labels"], np.int64) for s in seqs]
        counts = np.bincount(np.concatenate([y[y >= 0] for y in labels]), minlength=self.classes)
        counts = counts[: self.classes]
        weights = counts.sum() / (self.classes * np.maximum(counts, 1))
        if self.config["class_weights"] == "none":
            weights = np.ones(self.classes)
        elif self.config["class_weights"] != "balanced":
            raise ConfigError(
                f"class_weights {self.config['class_weights']!r}: expected none or balanced"
            )
        self.class_weights = torch.tensor(np.where(counts > 0, weights, 0.0), dtype=torch.float32)
        ctx.note("class_weights", [round(float(w), 4) for w in self.class_weights])
        ctx.note("train_sequences", len(seqs))
        inputs = [self._features(s) for s in seqs]
        # unlabelled frames: kept as context in the windows, never as targets
        keep = [np.flatnonzero(y >= 0) for y in labels]
        targets = [y[k] for y, k in zip(labels, keep)]
        self._frames = keep
        self.train_loop(inputs, targets, None, ctx)

    def windows(self, padded, index):
        """Windows around labelled frames only (``index`` rows count labelled frames)."""
        if self._frames is None:
            return super().windows(padded, index)
        rows = np.array([(s, self._frames[s][f]) for s, f in index])
        return super().windows(padded, rows)

    def predict(self, inputs, ctx) -> dict:
        """Class probabilities (softmax) of every frame of every input sequence, in order."""
        out = []
        for seq in inputs:
            logits = torch.from_numpy(self.run_sequence(self._features(seq)))
            out.append(torch.softmax(logits, dim=-1).numpy())
        return {"scores": np.concatenate(out) if out else np.zeros((0, self.classes))}

    def train_batch(self, batch_size: int, data=None):
        x = self.example_batch(batch_size)
        return x, torch.zeros(batch_size, dtype=torch.long, device=x.device)

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "range": torch.from_numpy(np.stack([self.lo, self.hi])),
            "class_weights": self.class_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        lo_hi = state["range"].numpy()
        self.lo, self.hi = lo_hi[0], lo_hi[1]
        self.class_weights = state["class_weights"]
