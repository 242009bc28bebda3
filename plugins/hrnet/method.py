"""HRNet as a kpbench ``pose2d`` method: top-down training on labelled instances, flip-test
prediction mapped back to the original frame's pixels, and the timed inference call."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from kpbench.errors import ConfigError, DataError
from kpbench.method import TrainableMethod
from kpbench.training import training_loop
from kpbench.weights import find_weights
from kpbench_plugins.hrnet import crops
from kpbench_plugins.hrnet.data import TrainCrops, to_tensor, upper_body
from kpbench_plugins.hrnet.heatmaps import decode, flip_back, joints_mse_loss
from kpbench_plugins.hrnet.model import IMAGENET_FILES, HRNet, load_pretrained


def _evenly(items: list, n: int | None) -> list:
    if n is None or len(items) <= n:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


class HRNetMethod(TrainableMethod):
    """The HRNet network plus its recipe (``config`` is the resolved flat config)."""

    def __init__(self, config: dict, num_keypoints: int | None = None):
        self.config = config
        self.num_keypoints = int(num_keypoints or config["num_keypoints"])
        self.size = tuple(int(v) for v in config["image_size"])  # (W, H)
        if self.size[0] % 32 or self.size[1] % 32:
            raise ConfigError(
                f"image_size {list(self.size)}: HRNet needs width and height divisible by 32 "
                "(e.g. [192, 256], [288, 384], [256, 256])"
            )
        self.model = HRNet(width=int(config["width"]), num_keypoints=self.num_keypoints)
        self.pretrained = self._load_pretrained()
        self.optimizer = None
        self.flip_pairs: list[tuple[int, int]] = []
        self.keypoint_names: list[str] = []

    def _load_pretrained(self) -> dict | str:
        """The ImageNet backbone file, when one is given or found (never downloaded)."""
        choice, width = self.config["pretrained"], int(self.config["width"])
        if choice in (None, False, "none"):
            return "none: pretrained=none (random initialisation)"
        name = IMAGENET_FILES.get(width)
        if name is None and choice == "auto":
            return f"none: no ImageNet HRNet file for width {width} (random initialisation)"
        path = find_weights(name or "", choice, key="pretrained")
        if path is None:
            return f"none: {name} not found in $KPBENCH_WEIGHTS or the torch hub cache (random initialisation)"
        return load_pretrained(self.model, path)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> str:
        """What the timed calls compute in (recorded in the timing section)."""
        layout = ", channels_last" if self.config["channels_last"] else ""
        return f"{'bfloat16 autocast' if self._amp() else 'float32'}{layout}"

    def _amp(self) -> bool:
        return bool(self.config["amp"]) and self.device.type == "cuda"

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self._amp())

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return (
            x.contiguous(memory_format=torch.channels_last) if self.config["channels_last"] else x
        )

    # -- training -----------------------------------------------------------------------------
    def _train_frames(self, data) -> list:
        frames = [f for f in data.labeled_instances("train") if f.visible().any()]
        if not frames:
            raise DataError(
                f"dataset {data.name}: no labelled instance in the train split; HRNet is supervised "
                "and needs labelled frames (DeepLabCut, SLEAP or COCO labels)"
            )
        bad = next((f for f in frames if len(f.keypoints) != self.num_keypoints), None)
        if bad is not None:
            raise DataError(
                f"{bad.source}: {len(bad.keypoints)} keypoints, but the evaluation instances have "
                f"{self.num_keypoints}; keep one skeleton per data folder"
            )
        return _evenly(frames, self.config["max_train_instances"])

    def _names(self, data) -> None:
        self.keypoint_names = list(data.per_instance_keypoint_names())
        self.flip_pairs = [tuple(p) for p in data.left_right()]

    def _optimizer(self):
        c = self.config
        if c["optimizer"] == "adam":  # the reference passes no weight decay to Adam
            opt = torch.optim.Adam(
                self.model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"]
            )
        elif c["optimizer"] == "sgd":
            opt = torch.optim.SGD(
                self.model.parameters(), lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"]
            )
        else:
            raise ConfigError(f"optimizer {c['optimizer']!r}: expected adam (the paper's) or sgd")
        sched = torch.optim.lr_scheduler.MultiStepLR(
            opt, milestones=list(c["lr_steps"]), gamma=c["lr_factor"]
        )
        return opt, sched

    def _step(self, images, targets, weights, net=None) -> float:
        with self._autocast():
            out = (net or self.model)(self._prepare(images))
        loss = joints_mse_loss(out.float(), targets.to(self.device), weights.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def fit(self, data, ctx) -> None:
        c = self.config
        self._names(data)
        frames = self._train_frames(data)
        if c["channels_last"]:
            self.model.to(memory_format=torch.channels_last)
        ctx.note("pretrained", self.pretrained)
        ctx.note("train_instances", len(frames))
        upper = upper_body(self.keypoint_names)
        off = None
        if c["half_body_prob"] <= 0:
            off = "off: half_body_prob is 0"
        elif upper.all() or not upper.any():
            off = "off: the keypoint names do not split into upper and lower body"
        elif self.num_keypoints <= c["half_body_min_keypoints"]:
            off = (
                f"off: it needs more than {c['half_body_min_keypoints']} labelled keypoints, "
                f"the skeleton has {self.num_keypoints}"
            )
        ctx.note("half_body", off or f"on: p {c['half_body_prob']}, upper body {int(upper.sum())}")
        c = {**c, "half_body_prob": 0.0} if off else c
        dataset = TrainCrops(frames, c, self.flip_pairs, upper, seed=ctx.seed)
        loader = ctx.loader(
            dataset, batch_size=c["batch_size"], shuffle=True,
            drop_last=len(dataset) > c["batch_size"], num_workers=c["workers"],
        )  # fmt: skip
        net = ctx.wrap_model(self.model)
        self.optimizer, sched = self._optimizer()
        steps = c["steps_per_epoch"] or len(loader)
        for epoch in training_loop(ctx, self.model, self.optimizer, sched, c["epochs"], "hrnet"):
            self.model.train()
            batches = self._passes(dataset, loader, ctx, epoch.index)
            for images, targets, weights in epoch.steps(steps, batches):
                epoch.add(self._step(images, targets, weights, net))
            sched.step()
            epoch.log(lr=sched.get_last_lr()[0])

    @staticmethod
    def _passes(dataset, loader, ctx, epoch: int):
        """Batches of one epoch: passes over the data, repeated (fresh shuffles and
        augmentations) while ``steps_per_epoch`` asks for more steps than one pass has."""
        for repeat in itertools.count():
            dataset.set_epoch(epoch, repeat)
            ctx.set_epoch(loader, epoch * 1000 + repeat)
            yield from loader

    # -- prediction ---------------------------------------------------------------------------
    @torch.inference_mode()
    def heatmaps(self, crops_rgb: np.ndarray) -> np.ndarray:
        """Heatmaps ``(N, K, H/4, W/4)`` of crops ``(N, H, W, 3)`` uint8, flip test as configured."""
        self.model.eval()
        out = []
        b = self.config["eval_batch_size"]
        for i in range(0, len(crops_rgb), b):
            x = self._prepare(to_tensor(crops_rgb[i : i + b]))
            with self._autocast():
                hm = self.model(x).float()
                if self.config["flip_test"]:
                    flipped = self.model(x.flip(-1)).float()
                    hm = 0.5 * (
                        hm + flip_back(flipped, self.flip_pairs, self.config["shift_heatmap"])
                    )
            out.append(hm.cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.num_keypoints, 1, 1))

    def predict(self, inputs, ctx) -> dict:
        """Keypoints (px of each original frame) and scores (heatmap maxima) per input instance."""
        matrices, batch = [], []
        cache_key, image = None, None
        for item in inputs:
            if item["source"] != cache_key:  # one frame's instances come together: decode once
                cache_key, image = item["source"], item["load"]()
            crop, m = crops.crop_box(image, item["box"], self.size, self.config["padding"])
            matrices.append(m)
            batch.append(crop)
        if not batch:
            return {
                "keypoints": np.zeros((0, self.num_keypoints, 2)),
                "scores": np.zeros((0, self.num_keypoints)),
            }
        coords, scores = decode(self.heatmaps(np.stack(batch)))
        stride = self.size[0] / (self.size[0] // 4)
        keypoints = np.stack(
            [crops.transform(c * stride, crops.invert(m)) for c, m in zip(coords, matrices)]
        )
        return {"keypoints": keypoints, "scores": scores}

    # -- FLOPs and timing ---------------------------------------------------------------------
    def _crops(self, n: int, data) -> np.ndarray:
        """``n`` input crops: of the data's first training instances, else random pixels."""
        w, h = self.size
        out = np.zeros((0, h, w, 3), np.uint8)
        if data is not None:
            frames = [f for f in data.labeled_instances("train") if f.visible().any()][:n]
            rows = [crops.crop_box(f.load(), f.bbox(), self.size, self.config["padding"])[0]
                    for f in frames]  # fmt: skip
            out = np.stack(rows) if rows else out
        if len(out) < n:
            extra = np.random.default_rng(0).integers(
                0, 255, (n - len(out), h, w, 3), dtype=np.uint8
            )
            out = np.concatenate([out, extra])
        return out[:n]

    def example_batch(self, batch_size: int, data=None):
        """``batch_size`` input crops ``(B, 3, H, W)`` for :meth:`infer` (one instance a sample)."""
        return self._prepare(to_tensor(self._crops(batch_size, data)))

    def infer(self, batch):
        """One forward pass to heatmaps (no flip test: the reference's FLOPs count one pass)."""
        self.model.eval()
        with self._autocast():
            return self.model(batch)

    def train_batch(self, batch_size: int, data=None):
        """Crops with Gaussian targets at random keypoints inside them, weights 1."""
        from kpbench_plugins.hrnet.heatmaps import gaussian_targets

        w, h = self.size
        rng = np.random.default_rng(0)
        images = self._crops(batch_size, data)
        maps, weights = [], []
        for _ in range(batch_size):
            kp = rng.uniform([0, 0], [w / 4 - 1, h / 4 - 1], (self.num_keypoints, 2))
            t, wt = gaussian_targets(
                kp, np.ones(self.num_keypoints), (w // 4, h // 4), self.config["sigma"]
            )
            maps.append(t)
            weights.append(wt)
        return (
            self._prepare(to_tensor(images)),
            torch.from_numpy(np.stack(maps)),
            torch.from_numpy(np.stack(weights)),
        )

    def state_dict(self) -> dict:
        """The weights plus what prediction needs from the training data (flip pairs, names)."""
        return {
            "model": self.model.state_dict(),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "keypoint_names": list(self.keypoint_names),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.flip_pairs = [tuple(p) for p in state.get("flip_pairs", [])]
        self.keypoint_names = list(state.get("keypoint_names", []))

    def train_step(self, batch) -> float:
        if self.optimizer is None:
            self.optimizer, _ = self._optimizer()
        self.model.train()
        return self._step(*batch)
