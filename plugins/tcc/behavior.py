"""TCC for ``behavior``: cycle-consistent keypoint embeddings, read out by a linear probe.

The pose-input network is trained without labels on the train split's keypoint sequences
(every animal's joints per frame, ``A × K`` joints). Behaviour sequences have no phases and
no common start or end, so each video of a batch is a random window of ``behavior_window``
frames of a sequence, and TCC aligns the windows. Then, as TCC's own evaluation reads its
frozen embeddings with a classifier, a scikit-learn ``LogisticRegression`` is fitted on the
standardised embeddings of up to ``probe_max_frames`` labelled train frames (spread evenly)
and gives each test frame's class probabilities. Before ``fit`` there is no probe and every
class scores 1 / C.
"""

from __future__ import annotations

import numpy as np
import torch

from kpbench.errors import ConfigError, DataError
from kpbench_plugins.tcc.method import TCCMethod
from kpbench_plugins.tcc.sampling import keypoint_scale


def _evenly(n: int, most: int) -> np.ndarray:
    return np.arange(n) if n <= most else np.linspace(0, n - 1, most).round().astype(int)


class TCCBehaviorMethod(TCCMethod):
    """TCC embeddings of keypoint sequences + a linear probe to ``classes`` classes."""

    def __init__(self, config: dict, animals: int, keypoints: int, classes: int):
        if config["input"] == "frames":
            raise ConfigError("tcc: behavior reads keypoints only; set input=keypoints or auto")
        self.classes = int(classes)
        self.probe: dict[str, torch.Tensor] = {}
        super().__init__(config, joints=int(animals) * int(keypoints), kind="keypoints")

    def fit(self, data, ctx) -> None:
        seqs = [s for s in data.sequences("train") if len(s["keypoints"]) > 1]
        if not seqs:
            raise DataError(f"dataset {data.name}: no train-split sequence to train TCC on")
        self._ensure("keypoints", self._joints_of(seqs))
        self.scale = keypoint_scale([s["keypoints"] for s in seqs])
        tracks = [self.track(s["keypoints"]) for s in seqs]
        ctx.note("input", "keypoints")
        ctx.note("train_sequences", len(seqs))
        self.train_tracks(
            {"behavior": tracks}, ctx, draw=self.windows(self.config["behavior_window"])
        )
        self.fit_probe(seqs, tracks, ctx)

    def fit_probe(self, seqs: list[dict], tracks: list[torch.Tensor], ctx) -> None:
        """The logistic regression on frozen embeddings of labelled train frames."""
        from sklearn.linear_model import LogisticRegression

        feats, labels = [], []
        for s, x in zip(seqs, tracks):
            y = None if s.get("labels") is None else np.asarray(s["labels"], np.int64)
            if y is not None and (y >= 0).any():
                keep = np.flatnonzero((y >= 0) & (y < self.classes))
                feats.append(self.embed_track(x)[keep])
                labels.append(y[keep])
        if not feats:
            raise DataError("tcc: no labelled train frame to fit the behaviour probe on")
        z, y = np.concatenate(feats), np.concatenate(labels)
        pick = _evenly(len(y), int(self.config["probe_max_frames"]))
        z, y = z[pick].astype(np.float64), y[pick]
        mean, std = z.mean(0), z.std(0) + 1e-6
        present = np.unique(y)
        if len(present) == 1:  # one class only: it scores 1 everywhere
            coef, intercept = np.zeros((1, z.shape[1])), np.zeros(1)
        else:
            clf = LogisticRegression(C=float(self.config["probe_c"]), max_iter=1000)
            clf.fit((z - mean) / std, y)
            coef, intercept = clf.coef_, clf.intercept_
        self.probe = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in
                      dict(mean=mean, std=std, coef=coef, intercept=intercept).items()}  # fmt: skip
        self.probe["classes"] = torch.as_tensor(present, dtype=torch.int64)
        ctx.note("probe_frames", len(y))

    def scores(self, z: np.ndarray) -> np.ndarray:
        """``(F, D)`` embeddings → ``(F, C)`` class probabilities (1 / C each without a probe)."""
        out = np.full((len(z), self.classes), 1.0 / self.classes)
        if not self.probe:
            return out
        p = {k: v.numpy() for k, v in self.probe.items()}
        logits = ((z - p["mean"]) / p["std"]) @ p["coef"].T + p["intercept"]
        if len(p["classes"]) == 1:
            prob = np.ones((len(z), 1))
        elif p["coef"].shape[0] == 1:  # binary: sklearn's one logit for the second class
            one = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            prob = np.stack([1.0 - one, one], 1)
        else:
            prob = np.exp(logits - logits.max(1, keepdims=True))
            prob /= prob.sum(1, keepdims=True)
        out[:] = 0.0
        out[:, p["classes"]] = prob
        return out

    def predict(self, inputs, ctx) -> dict:
        """Class probabilities of every frame of every input sequence, in input order."""
        inputs = list(inputs)
        if inputs:
            self._ensure("keypoints", self._joints_of(inputs))
        parts = [self.scores(self.embed_track(self.track(s["keypoints"]))) for s in inputs]
        return {"scores": np.concatenate(parts) if parts else np.zeros((0, self.classes))}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "probe": dict(self.probe)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.probe = dict(state.get("probe", {}))
