"""BKinD as a kpbench method: training loop, keypoints on the task's frames, exports, timing hooks."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from kpbench.method import TrainableMethod
from kpbench.training import training_loop
from kpbench_plugins.bkind.data import decode_segment, resize_square, to_tensor, training_pairs
from kpbench_plugins.bkind.export import save_keypoints, save_overlay_image, save_overlay_video
from kpbench_plugins.bkind.losses import PerceptualLoss, bkind_loss
from kpbench_plugins.bkind.model import BKinD
from kpbench_plugins.bkind.preprocess import make_preprocess


def to_pixels(pred: dict, image_size: tuple[int, int], heatmap_size: int) -> dict:
    """Map the model's [-1, 1] soft-argmax coordinates to pixels of the original ``(W, H)`` frame.

    The soft-argmax grid ``linspace(-1, 1, n)`` puts -1 and 1 on the centres of the first and last
    heatmap pixels, so ``x_px = ((u + 1) / 2 · (n − 1) + 0.5) · W / n − 0.5`` (pixel centres at
    integers). Variances scale by the square of that slope, the covariance by both slopes.
    """
    w, h = image_size
    n = heatmap_size
    sx, sy = (n - 1) * w / (2 * n), (n - 1) * h / (2 * n)
    kp = pred["keypoints"]
    px = np.stack(
        [(kp[..., 0] + 1) * sx + w / (2 * n) - 0.5, (kp[..., 1] + 1) * sy + h / (2 * n) - 0.5], -1
    )
    cov = pred["covariance"] * np.array([sx * sx, sy * sy, sx * sy])
    return {"keypoints": px, "confidence": pred["confidence"], "covariance": cov}


class BKinDMethod(TrainableMethod):
    """The BKinD model plus its recipe (``config`` is the resolved flat config)."""

    def __init__(self, config: dict):
        self.config = config
        self.model = BKinD(
            num_keypoints=config["num_keypoints"],
            image_size=config["image_size"],
            backbone=config["backbone"],
            decoder_channels=tuple(config["decoder_channels"]),
            head_channels=config["head_channels"],
            gaussian_vars=tuple(config["gaussian_vars"]),
            encoder_weights=config["encoder_weights"] or None,
        )
        self.loss = PerceptualLoss(mode=config["perceptual"], weights=config["vgg_weights"] or None)
        self.preprocess = make_preprocess(
            config["preprocess"], lower=config["hsv_lower"], upper=config["hsv_upper"]
        )
        self.optimizer = None
        self.epoch = config["curriculum"]  # timing steps run with every loss switched on

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> str:
        """What the timed calls compute in (recorded in the timing section)."""
        amp = bool(self.config["amp"]) and self.device.type == "cuda"
        layout = ", channels_last" if self.config["channels_last"] else ""
        return f"{'bfloat16 autocast' if amp else 'float32'}{layout}"

    # -- training -----------------------------------------------------------------------------
    def _optimizer(self):
        c = self.config
        if c["optimizer"] == "adam":  # scale-free: the CPU preset's pixel-only loss is ~1e-4
            opt = torch.optim.Adam(
                self.model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"]
            )
        elif c["optimizer"] == "sgd":
            opt = torch.optim.SGD(
                self.model.parameters(),
                lr=c["lr"],
                momentum=c["momentum"],
                weight_decay=c["weight_decay"],
            )
        else:
            from kpbench.errors import ConfigError

            raise ConfigError(f"optimizer {c['optimizer']!r}: expected sgd (the paper's) or adam")
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=c["lr_step_epochs"], gamma=0.1)
        return opt, sched

    def _autocast(self):
        on_cuda = self.device.type == "cuda"
        return torch.autocast(
            "cuda", dtype=torch.bfloat16, enabled=on_cuda and bool(self.config["amp"])
        )

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return (
            x.contiguous(memory_format=torch.channels_last) if self.config["channels_last"] else x
        )

    def _step(self, frame_t, frame_tT, epoch: int, net=None) -> dict[str, float]:
        with self._autocast():
            total, parts = bkind_loss(
                net or self.model,
                self._prepare(frame_t),
                self._prepare(frame_tT),
                epoch,
                curriculum=self.config["curriculum"],
                perceptual=self.loss,
            )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        return {"loss": float(total.detach()), **{k: float(v.detach()) for k, v in parts.items()}}

    def fit(self, data, ctx) -> None:
        c = self.config
        if c["channels_last"]:
            self.model.to(memory_format=torch.channels_last)
        self.loss.to(self.device)
        pairs = training_pairs(data, c, self.preprocess)
        ctx.note("training_pairs", len(pairs))
        ctx.note("encoder_weights", self.model.encoder_weights_source)
        ctx.note("perceptual_loss", self.loss.source)
        ctx.note("preprocess", c["preprocess"] or "none")
        # drop a ragged last batch only where this rank's share holds a full one (under
        # torchrun each rank sees ~1/world of the pairs): never train zero steps silently
        share = -(-len(pairs) // max(ctx.world_size, 1))
        loader = ctx.loader(
            pairs, batch_size=c["batch_size"], shuffle=True, drop_last=share > c["batch_size"]
        )
        net = ctx.wrap_model(self.model)  # DistributedDataParallel under torchrun
        self.optimizer, sched = self._optimizer()
        steps = min(c["steps_per_epoch"] or len(loader), len(loader))
        for epoch in training_loop(ctx, self.model, self.optimizer, sched, c["epochs"], "bkind"):
            ctx.set_epoch(loader, epoch.index)
            self.model.train()
            for frame_t, frame_tT in epoch.steps(steps, loader):
                epoch.add(self._step(frame_t, frame_tT, epoch.index, net))
            sched.step()
        self.epoch = c["epochs"]

    # -- inference ----------------------------------------------------------------------------
    @torch.inference_mode()
    def detect(self, frames: np.ndarray, image_size: tuple[int, int]) -> dict:
        """Keypoints on square-resized frames ``(N, S, S, 3)`` uint8, in px of a ``(W, H)`` frame."""
        self.model.eval()
        out = defaultdict(list)
        hm = self.config["image_size"] // 4
        for i in range(0, len(frames), self.config["eval_batch_size"]):
            with self._autocast():
                pred = self.model.detect(
                    self._prepare(to_tensor(frames[i : i + self.config["eval_batch_size"]]))
                )
            hm = pred["heatmaps"].shape[-1]
            for k in ("keypoints", "confidence", "covariance"):
                out[k].append(pred[k].float().cpu().numpy())
        merged = {k: np.concatenate(v) for k, v in out.items()}
        return to_pixels(merged, image_size, hm)

    def predict(self, inputs, ctx) -> dict:
        """Keypoints (px of each frame), confidence and covariance on the task's frames."""
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, item in enumerate(inputs):
            by_size[tuple(item["image_size"])].append(i)
        k = self.config["num_keypoints"]
        out = {
            "keypoints": np.zeros((len(inputs), k, 2)),
            "confidence": np.zeros((len(inputs), k)),
            "covariance": np.zeros((len(inputs), k, 3)),
        }
        s = self.config["image_size"]
        for size, rows in by_size.items():
            frames = np.stack(
                [resize_square(inputs[i]["load"](), s, self.preprocess) for i in rows]
            )
            pred = self.detect(frames, size)
            for key in out:
                out[key][rows] = pred[key]
        return out

    def export(self, data, ctx) -> None:
        """Discovered keypoints per video (npz), an overlay PNG and a short overlay MP4."""
        c = self.config
        by_video: dict[str, list] = defaultdict(list)
        for item in data.videos():
            by_video[item.name].append(item)
        first = None
        for name, items in by_video.items():
            reader = items[0].reader
            idx_all, preds = [], []
            for item in items:
                frames, idx = decode_segment(
                    item, c["image_size"], c["export_max_frames"], self.preprocess
                )
                if len(idx):
                    preds.append(self.detect(frames, (reader.width, reader.height)))
                    idx_all.append(idx)
            if not preds:
                continue
            pred = {k: np.concatenate([p[k] for p in preds]) for k in preds[0]}
            index = np.concatenate(idx_all)
            order = np.argsort(index)
            pred = {k: v[order] for k, v in pred.items()}
            path = save_keypoints(
                ctx.run_dir / "keypoints" / f"{name}.npz",
                getattr(reader, "path", None) or reader.name,
                reader.fps,
                (reader.width, reader.height),
                pred,
                index[order],
            )
            ctx.add_artifact(f"keypoints/{name}", path)
            if first is None:
                first = (reader, pred, index[order])
        if first is None:
            return
        reader, pred, index = first
        n = min(len(index), c["overlay_frames"])
        clip = list(reader.iter_frames(index[:n]))
        picks = np.linspace(0, len(clip) - 1, min(4, len(clip))).round().astype(int)
        img = save_overlay_image(
            ctx.run_dir / "overlay.png",
            [clip[i][1] for i in picks],
            [pred["keypoints"][i] for i in picks],
        )
        ctx.add_artifact("overlay_image", img)
        vid = save_overlay_video(
            ctx.run_dir / "overlay.mp4", (f for _, f in clip), pred["keypoints"][:n], reader.fps
        )
        ctx.add_artifact("overlay_video", vid)

    # -- FLOPs and timing ---------------------------------------------------------------------
    def _frames(self, n: int, data) -> np.ndarray:
        """``n`` frames of the first training video (random pixels without data), square-resized."""
        s = self.config["image_size"]
        item = next(iter(data.videos("train")), None) if data is not None else None
        frames = np.zeros((0, s, s, 3), np.uint8)
        if item is not None:
            frames, _ = decode_segment(item, s, n, self.preprocess)
        if len(frames) < n:
            rng = np.random.default_rng(0)
            extra = rng.integers(0, 255, (n - len(frames), s, s, 3), dtype=np.uint8)
            frames = np.concatenate([frames, extra])
        return frames

    def example_batch(self, batch_size: int, data=None):
        """``batch_size`` frames ``(B, 3, S, S)`` for :meth:`infer` (one frame is one sample)."""
        return self._prepare(to_tensor(self._frames(batch_size, data)))

    def train_batch(self, batch_size: int, data=None):
        gap = self.config["frame_gap"]
        frames = self._frames(batch_size + gap, data)
        idx = np.arange(batch_size)
        return self._prepare(to_tensor(frames[idx])), self._prepare(to_tensor(frames[idx + gap]))

    def train_step(self, batch) -> float:
        if self.optimizer is None:
            self.optimizer, _ = self._optimizer()
        self.model.train()
        return self._step(batch[0], batch[1], self.epoch)["loss"]

    def infer(self, batch):
        """Keypoint detection (encoder + keypoint head), as at evaluation."""
        self.model.eval()
        with self._autocast():
            return self.model.detect(batch)
