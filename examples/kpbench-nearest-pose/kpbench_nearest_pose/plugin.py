"""``nearest_pose``: a classic, non-deep ``pose2d`` method: the pose of the nearest training crop.

**Method.** Every instance is cropped to its box and resized to ``crop_size`` × ``crop_size``
grey pixels (OpenCV ``warpAffine``; outside the frame is black), and the crop is made zero-mean
and unit-norm. For a test instance the method finds, for each keypoint, the stored training crop
nearest in L2 (for unit vectors: the largest cosine similarity) among those where that keypoint
is labelled, and places that crop's box-relative keypoint in the test box. The keypoint's score
is the similarity mapped to ``[0, 1]`` (``(cos + 1) / 2``). A keypoint no stored crop has labelled
(or any keypoint, while nothing is stored) is put at the box centre with score 0.

**Why ``trains=True``.** The method needs the training split, and the runner hands a method the
dataset only through ``TrainableMethod.fit`` (``predict`` gets the evaluation inputs alone), so a
``trains=False`` predictor could not see a single training crop. Its "training" is storing crops:
``fit`` feeds the (evenly subsampled, ``max_train_instances``) training instances through
``train_step`` in batches of ``batch_size``. ``train_step`` is an honest step of that learner: it
adds the batch to the memory and returns the *prequential* loss, the mean box-relative L2 error of
what the method would have predicted for the batch's labelled keypoints from the memory *before*
the batch was added (0.0 for a batch without a labelled keypoint). ``fit`` logs that loss's mean
as epoch 0. The memory is the state (``state_dict``: tensors only, so checkpoints load with
``torch.load(weights_only=True)``).

**No torch model.** ``model`` is None, so 0 parameters. :meth:`NearestPose.infer` is the search
itself, a matrix product of the query crops with the memory, so FLOPs are counted by kpbench's
counter: ``2 · crop_size² · M`` per sample for ``M`` stored crops. Built at its defaults (as the
reference figures are) the memory is empty: 0 parameters, 0 FLOPs.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from kpbench import hookimpl
from kpbench.method import TrainableMethod
from kpbench.specs import MethodSpec

NAME = "nearest_pose"


def crop_features(image: np.ndarray, box, size: int) -> np.ndarray:
    """The box ``(x, y, w, h)`` of ``image`` as a zero-mean, unit-norm ``size²`` grey vector."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif img.ndim == 3:
        img = img[..., 0]
    x, y, w, h = (float(v) for v in box)
    sx, sy = size / max(w, 1e-6), size / max(h, 1e-6)
    warp = np.array([[sx, 0.0, -x * sx], [0.0, sy, -y * sy]], np.float32)
    crop = cv2.warpAffine(
        img.astype(np.float32), warp, (size, size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    ).ravel()  # fmt: skip
    crop -= crop.mean()
    return crop / max(float(np.linalg.norm(crop)), 1e-6)


def relative(keypoints: np.ndarray, box) -> np.ndarray:
    """Keypoints ``(K, 2)`` px as fractions of their box: ``(kp − (x, y)) / (w, h)``."""
    box = np.asarray(box, np.float64)
    return (np.asarray(keypoints, np.float64) - box[:2]) / np.maximum(box[2:], 1e-9)


class NearestPose(TrainableMethod):
    """A memory of training crops and their box-relative poses; see the module docstring."""

    model = None

    def __init__(self, config: dict, num_keypoints: int | None = None):
        self.config = dict(config)
        self.size = int(config["crop_size"])
        self.num_keypoints = num_keypoints
        k = num_keypoints or 0
        self.features = np.zeros((0, self.size * self.size), np.float32)
        self.relative = np.zeros((0, k, 2), np.float64)
        self.labelled = np.zeros((0, k), bool)

    # -- the memory --------------------------------------------------------------------------
    def _batch(self, items) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(features, relative, labelled)`` of ``(image, keypoints, visibility, box)`` items."""
        feats, rels, labs = [], [], []
        for image, keypoints, visibility, box in items:
            feats.append(crop_features(image, box, self.size))
            rel = relative(keypoints, box)
            lab = np.isfinite(rel).all(axis=-1) & (np.asarray(visibility) > 0)
            rels.append(np.where(lab[:, None], rel, 0.5))
            labs.append(lab)
        return np.stack(feats), np.stack(rels), np.stack(labs)

    def _lookup(self, features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Box-relative keypoints ``(B, K, 2)`` and scores ``(B, K)`` from the memory."""
        n = len(features)
        rel, scores = np.full((n, k, 2), 0.5), np.zeros((n, k))
        if not len(self.features) or not n:
            return rel, scores
        with torch.no_grad():
            sims = self.infer(torch.from_numpy(features)).numpy().astype(np.float64)
        for j in range(k):
            has = self.labelled[:, j]
            if not has.any():
                continue
            masked = np.where(has[None], sims, -np.inf)
            best = masked.argmax(axis=1)
            rel[:, j] = self.relative[best, j]
            scores[:, j] = np.clip((masked[np.arange(n), best] + 1.0) / 2.0, 0.0, 1.0)
        return rel, scores

    # -- Method --------------------------------------------------------------------------------
    def predict(self, inputs, ctx) -> dict:
        k = self.relative.shape[1] if len(self.relative) else (self.num_keypoints or 0)
        boxes = np.array([np.asarray(x["box"], np.float64) for x in inputs]).reshape(-1, 4)
        feats = [crop_features(x["load"](), x["box"], self.size) for x in inputs]
        feats = np.stack(feats) if feats else np.zeros((0, self.size**2), np.float32)
        rel, scores = self._lookup(feats, k)
        keypoints = boxes[:, None, :2] + rel * boxes[:, None, 2:]
        return {"keypoints": keypoints, "scores": scores}

    def example_batch(self, batch_size: int, data=None):
        """Query crops: the first training instances' crops when there is data, else noise."""
        if data is not None:
            items = self._train_items(data, batch_size)
            if items:
                feats = self._batch(items)[0]
                return torch.from_numpy(np.resize(feats, (batch_size, feats.shape[1])))
        noise = np.random.default_rng(0).standard_normal((batch_size, self.size**2))
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        return torch.from_numpy(noise.astype(np.float32))

    def infer(self, batch):
        """The search: cosine similarity ``(B, M)`` of query crops to the ``M`` stored crops."""
        bank = torch.from_numpy(self.features).to(batch.device)
        return batch @ bank.T

    # -- TrainableMethod -----------------------------------------------------------------------
    def _train_items(self, data, limit: int | None) -> list:
        from kpbench.tasks.pose2d import samples

        train = samples(data, "train")
        picks = np.arange(len(train))
        if limit is not None and len(picks) > limit:
            picks = np.unique(np.linspace(0, len(train) - 1, int(limit)).round().astype(int))
        items = []
        for i in picks:
            s = train[int(i)]
            if (np.asarray(s["visibility"]) > 0).any():
                items.append((s["image"], s["keypoints"], s["visibility"], s["box"]))
        return items

    def fit(self, data, ctx) -> None:
        items = self._train_items(data, self.config["max_train_instances"])
        bs = int(self.config["batch_size"])
        batches = [items[i : i + bs] for i in range(0, len(items), bs)]
        losses = [self.train_step(self._batch(b)) for b in ctx.progress(batches, desc="store")]
        ctx.log_epoch(0, {"prequential_error": float(np.mean(losses)) if losses else 0.0})
        ctx.note("memory_crops", len(self.features))

    def train_batch(self, batch_size: int, data=None):
        """A batch of training crops: the data's first instances, else synthetic bars."""
        items = self._train_items(data, batch_size) if data is not None else []
        if not items:
            rng = np.random.default_rng(len(self.features))
            k = self.num_keypoints or 3
            for _ in range(batch_size):
                image = rng.integers(0, 60, (48, 48, 3)).astype(np.uint8)
                kp = rng.uniform(8, 40, (k, 2))
                for x, y in kp.round().astype(int):
                    image[y - 1 : y + 2, x - 1 : x + 2] = 255
                box = np.concatenate([kp.min(0) - 4, np.ptp(kp, axis=0) + 8])
                items.append((image, kp, np.full(k, 2), box))
        return self._batch(items)

    def train_step(self, batch) -> float:
        """Add the batch to the memory; return the prequential box-relative L2 error."""
        feats, rel, lab = batch
        if not len(self.features):
            self.relative = np.zeros((0, *rel.shape[1:]), np.float64)
            self.labelled = np.zeros((0, lab.shape[1]), bool)
        guess = self._lookup(feats, rel.shape[1])[0]
        err = np.linalg.norm(guess - rel, axis=-1)[lab]
        self.features = np.concatenate([self.features, feats.astype(np.float32)])
        self.relative = np.concatenate([self.relative, rel])
        self.labelled = np.concatenate([self.labelled, lab])
        return float(err.mean()) if err.size else 0.0

    def state_dict(self) -> dict:
        return {
            "features": torch.from_numpy(self.features.copy()),
            "relative": torch.from_numpy(self.relative.copy()),
            "labelled": torch.from_numpy(self.labelled.copy()),
        }

    def load_state_dict(self, state: dict) -> None:
        self.features = state["features"].numpy().astype(np.float32)
        self.relative = state["relative"].numpy().astype(np.float64)
        self.labelled = state["labelled"].numpy().astype(bool)


def build(config: dict, num_keypoints: int | None = None) -> NearestPose:
    return NearestPose(config, num_keypoints)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name=NAME,
            tasks=("pose2d",),
            build=build,
            defaults={"crop_size": 32, "max_train_instances": None, "batch_size": 64},
            presets={
                "smoke": {"max_train_instances": 200},
                "default": {"max_train_instances": 5000},
                "paper": {},
            },
            description="nearest training crop (32×32 grey, L2 on normalised pixels); its pose",
            paper="example plugin (examples/kpbench-nearest-pose); nearest-neighbour pose lookup",
            reference={
                "params": 0,
                "flops": 0,
                "flops_input": "one crop against the empty memory of a method built at its "
                "defaults; after fit, 2·crop_size²·M for M stored crops",
            },
            trains=True,
        )
    ]
