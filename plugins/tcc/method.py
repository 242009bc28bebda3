"""TCC as a kpbench method: self-supervised training by cycle consistency, per-frame embeddings.

``alignment``: trained on the train split's alignment sequences, batches of ``batch_videos``
sequences of one set (action) × ``num_frames`` sampled frames, each with its context frames;
predicts the embedding of every frame of every input sequence. The input is pixels
(``frames``) or keypoints (``keypoints``); ``auto`` takes pixels when every sequence has
frames, else keypoints. The recipe is the reference's: Adam at a fixed lr 1e-4, L2 weight
decay 1e-5 on the embedder (Keras ``l2(λ)`` adds λ·Σw², i.e. Adam's ``weight_decay`` 2λ), the
backbone's BatchNorm only trained (``train_base: only_bn``; ``frozen``, ``train_all``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from kpbench.errors import ConfigError, DataError
from kpbench.method import TrainableMethod
from kpbench.training import training_loop
from kpbench.weights import TORCHVISION_FILES, find_weights
from kpbench_plugins.tcc import sampling as S
from kpbench_plugins.tcc.losses import LOSS_TYPES, alignment_loss
from kpbench_plugins.tcc.model import build_net, load_imagenet

INPUTS = ("auto", "frames", "keypoints")
TRAIN_BASE = ("only_bn", "frozen", "train_all")


class TCCMethod(TrainableMethod):
    """The network, its inputs, the training loop and per-frame embedding."""

    def __init__(self, config: dict, joints: int | None = None, kind: str | None = None):
        self.config = config
        for key, allowed in (("input", INPUTS), ("train_base", TRAIN_BASE), ("loss", LOSS_TYPES)):
            if config[key] not in allowed:
                raise ConfigError(f"{key} {config[key]!r}: expected one of {', '.join(allowed)}")
        self.k, self.stride = int(config["context_frames"]), int(config["context_stride"])
        if self.k < 1 or self.stride < 1:
            raise ConfigError("context_frames and context_stride must be >= 1")
        wanted = config["input"]
        self.kind = kind or (wanted if wanted != "auto" else "frames")
        self.joints = int(joints) if joints else None
        self.scale = 1.0  # keypoint coordinates are divided by it (fitted on the train split)
        self.optimizer = None
        self._build()

    # -- network ----------------------------------------------------------------------------------
    def _build(self) -> None:
        if self.kind == "keypoints" and not self.joints:
            self.joints = 1  # resized once the data says how many joints there are
        self.model = build_net(self.config, self.kind, self.joints)
        self.pretrained = self._load_pretrained()
        self.optimizer = None

    def _ensure(self, kind: str, joints: int | None) -> None:
        """Rebuild the network when the data needs another input kind or joint count."""
        if kind == self.kind and (kind == "frames" or joints == self.joints):
            return
        device = self.device
        self.kind, self.joints = kind, joints
        self._build()
        self.model.to(device)

    def _load_pretrained(self) -> dict | str:
        """ImageNet weights for the pixel backbone, when given or found (never downloaded)."""
        if self.kind != "frames":
            return "none: keypoint input (the encoder is trained from scratch)"
        choice = self.config["pretrained"]
        if choice in (None, False, "none"):
            return "none: pretrained=none (random initialisation)"
        name = TORCHVISION_FILES[self.config["backbone"]]
        path = find_weights(name, choice, key="pretrained")
        if path is None:
            return f"none: {name} not found in $KPBENCH_WEIGHTS or the torch hub cache (random initialisation)"
        return load_imagenet(self.model.encoder, path)

    def _set_trainable(self) -> list[dict]:
        """``train_base``: which encoder parameters train; the optimiser's parameter groups."""
        mode = self.config["train_base"] if self.kind == "frames" else "train_all"
        for module in self.model.encoder.modules():
            bn = isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
            for p in module.parameters(recurse=False):
                p.requires_grad_(mode == "train_all" or (mode == "only_bn" and bn))
        decay = 2.0 * float(self.config["l2_reg_weight"])
        encoder = [p for p in self.model.encoder.parameters() if p.requires_grad]
        groups = [{"params": list(self.model.embedder.parameters()), "weight_decay": decay}]
        if encoder:  # Keras' ResNet carries no regulariser; our keypoint encoder is the embedder's
            groups.append(
                {"params": encoder, "weight_decay": decay if self.kind != "frames" else 0.0}
            )
        return groups

    def _optimizer(self):
        opt = torch.optim.Adam(self._set_trainable(), lr=float(self.config["lr"]))
        return opt, torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)

    def _train_mode(self) -> None:
        self.model.train()
        if self.kind == "frames" and self.config["train_base"] == "frozen":
            self.model.encoder.eval()  # statistics fixed too

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- inputs -----------------------------------------------------------------------------------
    def resolve_kind(self, sequences: list[dict]) -> str:
        """``input`` for these sequences (``auto``: frames when all have them, else keypoints)."""
        has = {
            key: all(s.get(key) is not None for s in sequences) for key in ("frames", "keypoints")
        }
        wanted = self.config["input"]
        if wanted == "auto":
            wanted = "frames" if has["frames"] else "keypoints"
        if not has[wanted]:
            raise DataError(
                f"tcc: input {self.config['input']!r} needs {wanted} in every sequence, and some "
                "have none; set input=frames or input=keypoints to what the data holds"
            )
        return wanted

    def track(self, keypoints=None, frames=None) -> torch.Tensor:
        """One sequence as the network's per-frame inputs: uint8 ``(T, 3, S, S)`` pixels or
        ``(T, 3J)`` keypoint features."""
        if self.kind == "frames":
            return S.resize_frames(np.asarray(frames), int(self.config["image_size"]))
        return S.keypoint_features(keypoints, self.scale)

    @staticmethod
    def _joints_of(sequences: list[dict]) -> int:
        counts = {S.flat_joints(s["keypoints"]).shape[1] for s in sequences}
        if len(counts) != 1:
            raise DataError(f"tcc: the sequences have different joint counts {sorted(counts)}")
        return counts.pop()

    def prepare(self, x: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Network input of one video's stacked frames (augmented when ``rng`` is given)."""
        if self.kind == "frames":
            unit = S.to_unit(x)
            if rng is not None and self.config["augment"]:
                unit = S.augment_frames(unit, rng, flip=self.config["flip"])
            return S.to_input(unit)
        if rng is not None and self.config["augment"]:
            return S.augment_keypoints(x, rng)
        return x

    # -- training ---------------------------------------------------------------------------------
    def batch(self, tracks: list[torch.Tensor], rng: np.random.Generator, augment: bool = True):
        """``(x (N, T, k, ...), steps (N, T), lengths (N,))`` from one video per track."""
        c, xs, steps = self.config, [], []
        for x in tracks:
            chosen = S.offset_uniform(rng, len(x), int(c["num_frames"]), int(c["sampling_offset"]))
            idx = torch.from_numpy(S.context_steps(chosen, self.k, self.stride))
            video = self.prepare(x[idx.flatten()], rng if augment else None)
            xs.append(video.unflatten(0, idx.shape))
            steps.append(chosen)
        lengths = torch.tensor([len(x) for x in tracks])
        return torch.stack(xs), torch.from_numpy(np.stack(steps)), lengths

    def loss(self, x: torch.Tensor, steps: torch.Tensor, lengths: torch.Tensor, net=None):
        c = self.config
        n, t = x.shape[:2]
        embs = (net or self.model)(x.flatten(0, 1).to(self.device)).unflatten(0, (n, t))
        return alignment_loss(
            embs, steps.to(self.device), lengths.to(self.device), c["loss"],
            float(c["temperature"]), c["similarity"], float(c["label_smoothing"]),
            float(c["variance_lambda"]), float(c["huber_delta"]),
        )  # fmt: skip

    def _step(self, batch, net=None) -> float:
        self._train_mode()
        loss = self.loss(*batch, net=net)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    @staticmethod
    def windows(size: int):
        """A ``draw`` for :meth:`train_tracks` cutting a random ``size``-frame window of each
        video (None for ``size`` 0: whole sequences, as the reference)."""
        if int(size) <= 0:
            return None

        def draw(rng: np.random.Generator, x: torch.Tensor) -> torch.Tensor:
            start = int(rng.integers(0, max(len(x) - int(size), 0) + 1))
            return x[start : start + int(size)]

        return draw

    def train_tracks(self, groups: dict[str, list], ctx, draw=None) -> None:
        """Train on ``groups`` (set name → tracks); a batch holds videos of one set.
        ``draw(rng, track)`` may cut a track first (a window of a long sequence)."""
        c = self.config
        names = sorted(groups)
        weights = np.array([len(groups[n]) for n in names], np.float64)
        self.optimizer, sched = self._optimizer()
        net = ctx.wrap_model(self.model)
        per_epoch = int(c["steps_per_epoch"])
        epochs = math.ceil(int(c["steps"]) / per_epoch)
        videos = int(c["batch_videos"])
        for epoch in training_loop(ctx, self.model, self.optimizer, sched, epochs, "tcc"):
            rng = epoch.rng
            for _ in epoch.steps(min(per_epoch, int(c["steps"]) - epoch.index * per_epoch)):
                group = groups[names[rng.choice(len(names), p=weights / weights.sum())]]
                pick = rng.choice(len(group), videos, replace=len(group) < videos)
                tracks = [group[i] if draw is None else draw(rng, group[i]) for i in pick]
                epoch.add(self._step(self.batch(tracks, rng), net))

    def fit(self, data, ctx) -> None:
        seqs = [s for s in data.alignment_sequences("train") if len(s["phases"]) > 0]
        if not seqs:
            raise DataError(
                f"dataset {data.name}: no train-split alignment sequence to train TCC on"
            )
        kind, built = self.resolve_kind(seqs), self.kind
        self._ensure(kind, None if kind == "frames" else self._joints_of(seqs))
        if kind != built:  # the record's params were counted on the network built for pixels
            ctx.note("params_for_input", sum(p.numel() for p in self.model.parameters()))
        if kind == "keypoints":
            self.scale = S.keypoint_scale([s["keypoints"] for s in seqs])
        groups: dict[str, list] = {}
        for s in seqs:
            groups.setdefault(str(s["set"]), []).append(
                self.track(s.get("keypoints"), s.get("frames"))
            )
        ctx.note("pretrained", self.pretrained)
        ctx.note("input", kind)
        ctx.note("train_sequences", {name: len(g) for name, g in sorted(groups.items())})
        self.train_tracks(groups, ctx, draw=self.windows(self.config["alignment_window"]))

    # -- prediction -------------------------------------------------------------------------------
    @torch.inference_mode()
    def embed_track(self, x: torch.Tensor) -> np.ndarray:
        """Every frame's embedding: each frame encoded once, each frame's context gathered."""
        self.model.eval()
        chunk = int(self.config["embed_batch"])
        feats = torch.cat([
            self.model.encode(self.prepare(x[i : i + chunk]).to(self.device))
            for i in range(0, len(x), chunk)
        ])  # fmt: skip
        idx = torch.from_numpy(S.context_steps(np.arange(len(x)), self.k, self.stride))
        out = [self.model.embed(feats[idx[i : i + chunk].to(feats.device)])
               for i in range(0, len(x), chunk)]  # fmt: skip
        return torch.cat(out).float().cpu().numpy()

    def predict(self, inputs, ctx) -> dict:
        """``{"embeddings": (F, D)}``: every frame of every input sequence, in input order."""
        inputs = list(inputs)
        if inputs:
            kind = self.resolve_kind(inputs)
            self._ensure(kind, None if kind == "frames" else self._joints_of(inputs))
        parts = [self.embed_track(self.track(s.get("keypoints"), s.get("frames"))) for s in inputs]
        width = int(self.config["embedding_size"])
        return {"embeddings": np.concatenate(parts) if parts else np.zeros((0, width), np.float32)}

    # -- timing -----------------------------------------------------------------------------------
    def _unit_shape(self) -> tuple[int, ...]:
        size = int(self.config["image_size"])
        return (3, size, size) if self.kind == "frames" else (3 * int(self.joints),)

    def example_batch(self, batch_size: int, data=None):
        """``batch_size`` frames, each with its k context frames: ``(B, k, ...)``; random
        inputs of the network's size (the timed call costs the same on any content)."""
        g = torch.Generator().manual_seed(0)
        x = torch.rand(batch_size, self.k, *self._unit_shape(), generator=g) * 2 - 1
        return x.to(self.device)

    def infer(self, batch):
        """The embedding of each frame from its context: ``(B, k, ...)`` → ``(B, D)``."""
        self.model.eval()
        return self.model(batch)

    def train_batch(self, batch_size: int, data=None):
        """The recipe's batch: ⌈batch_size / num_frames⌉ videos (at least 2) × num_frames."""
        frames = int(self.config["num_frames"])
        videos = max(2, math.ceil(batch_size / frames))
        g = torch.Generator().manual_seed(0)
        x = torch.rand(videos, frames, self.k, *self._unit_shape(), generator=g) * 2 - 1
        steps = torch.sort(torch.randperm(4 * frames, generator=g)[:frames]).values
        return x, steps.repeat(videos, 1), torch.full((videos,), 4 * frames)

    def train_step(self, batch) -> float:
        if self.optimizer is None:
            self.optimizer, _ = self._optimizer()
        return self._step(batch)

    # -- checkpoint -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "input": self.kind,
                "joints": int(self.joints or 0), "scale": float(self.scale)}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self._ensure(state["input"], int(state["joints"]) or None)
        self.model.load_state_dict(state["model"])
        self.scale = float(state["scale"])
