"""KeypointNet as a kpbench ``multiview3d`` method: training on view pairs, 3D keypoints per view.

Training (the reference's recipe, ``utils.py`` / ``main.py``): Adam at ``lr``, gradients clipped
to a global norm of ``clip_norm`` (5), ``steps`` steps of ``batch_size`` pairs drawn in shuffled
passes over the training pairs, no augmentation; the orientation flag fed to the keypoint net
is the true one until ``lr_anneal_start`` and OrientNet's own from ``lr_anneal_end`` on
(linearly mixed and rounded between). Both views of a batch go through the networks as one
batch (the reference runs them one after the other, each with its own batch statistics).
Epochs of ``steps_per_epoch`` steps are what is logged and checkpointed (resumable).

Prediction: each view's keypoints ``(u, v, z)`` are unprojected with that input's intrinsics into
its camera frame (OpenCV; :mod:`kpbench_plugins.keypointnet.geometry`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from kpbench.errors import DataError
from kpbench.method import TrainableMethod
from kpbench.training import training_loop
from kpbench_plugins.keypointnet import data as kd
from kpbench_plugins.keypointnet import losses
from kpbench_plugins.keypointnet.geometry import unproject
from kpbench_plugins.keypointnet.model import KeypointNet


class KeypointNetMethod(TrainableMethod):
    def __init__(self, config: dict, num_keypoints: int | None = None):
        self.config = config
        c = config
        self.model = KeypointNet(
            num_keypoints=int(num_keypoints or c["num_keypoints"]),
            num_filters=int(c["num_filters"]),
            dilations=tuple(int(d) for d in c["dilations"]),
            depth_bias=float(c["depth_bias"] if c["depth_bias"] is not None else 30.0),
            bn_momentum=float(c["bn_momentum"]),
        )
        self.size = int(c["image_size"])
        self.step = 0
        self.optimizer = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- training --------------------------------------------------------------------------------
    def anneal(self, step: int) -> float:
        """1 = the true orientation flag, 0 = OrientNet's (the reference's linear anneal)."""
        start, end = self.config["lr_anneal_start"], self.config["lr_anneal_end"]
        return float(np.clip((end - step) / max(end - start, 1), 0.0, 1.0))

    def _optimizer(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.config["lr"])
        return opt, torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)

    def _step(self, batch: dict, net=None) -> tuple[float, dict]:
        self.model.train()
        net = net or self.model
        b = len(batch["images"])
        images = batch["images"].flatten(0, 1)  # (2B, 3, S, S): a0, b0, a1, b1, ...
        out = net(images, batch["flag"].flatten(), self.anneal(self.step))
        views = [{k: v.unflatten(0, (b, 2))[:, i] for k, v in out.items()} for i in range(2)]
        loss, terms = losses.total(views, batch, self.config)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config["clip_norm"])
        self.optimizer.step()
        self.step += 1
        return float(loss.detach()), terms

    def _training_arrays(self, data, ctx) -> dict:
        from kpbench.tasks.multiview3d import samples

        pairs = samples(data, "train")
        if not len(pairs):
            raise DataError(f"dataset {data.name}: no train-split view pairs to train on")
        n = len(pairs)
        cap = self.config["max_train_pairs"]
        chosen = np.linspace(0, n - 1, min(n, cap)).round().astype(int) if cap else range(n)
        items, dist = [], []
        for i in ctx.progress(chosen, total=len(chosen), desc="keypointnet: reading pairs"):
            p = pairs[int(i)]
            items.append(kd.training_pair(p, self.size, self.config["orient_axis"]))
            dist.append(np.linalg.norm(np.asarray(p["pose_a"])[:3, 3]))
        ctx.note("train_pairs", len(items))
        if self.config["depth_bias"] is None:  # the mean camera distance of the training views
            self.model.depth_bias.fill_(float(np.mean(dist)))
        ctx.note("depth_bias", float(self.model.depth_bias))
        return kd.stack(items)

    def fit(self, data, ctx) -> None:
        c = self.config
        arrays = self._training_arrays(data, ctx)
        n, batch = len(arrays["images"]), int(c["batch_size"])
        net = ctx.wrap_model(self.model)
        self.optimizer, sched = self._optimizer()
        per_epoch = int(c["steps_per_epoch"])
        epochs = math.ceil(int(c["steps"]) / per_epoch)
        for epoch in training_loop(ctx, self.model, self.optimizer, sched, epochs, "keypointnet"):
            self.step = epoch.index * per_epoch + epoch.done
            rng = np.random.default_rng([ctx.seed, epoch.index])  # the epoch's order, whole
            rows = np.concatenate([rng.permutation(n) for _ in range(-(-per_epoch * batch // n))])
            for s in epoch.steps(min(per_epoch, int(c["steps"]) - epoch.index * per_epoch)):
                picked = {k: v[rows[s * batch : (s + 1) * batch]] for k, v in arrays.items()}
                loss, terms = self._step(kd.to_batch(picked, self.device), net)
                epoch.add({"loss": loss, **terms})
            epoch.log(anneal=self.anneal(self.step))

    def train_batch(self, batch_size: int, data=None) -> dict:
        if data is not None:
            from kpbench.tasks.multiview3d import samples

            pairs = samples(data, "train")
            pairs = [pairs[i % len(pairs)] for i in range(batch_size)]
        else:
            pairs = kd.synthetic_pairs(batch_size, self.size)
        axis = self.config["orient_axis"]
        items = [kd.training_pair(p, self.size, axis) for p in pairs]
        return kd.to_batch(kd.stack(items), self.device)

    def train_step(self, batch: dict) -> float:
        if self.optimizer is None:
            self.optimizer, _ = self._optimizer()
        return self._step(batch)[0]

    # -- prediction ------------------------------------------------------------------------------
    def predict(self, inputs, ctx) -> dict:
        """Both views' K keypoints, each in its own camera frame (OpenCV, the poses' units)."""
        self.model.eval()
        out_a, out_b = [], []
        step = int(self.config["predict_batch_size"])
        for start in range(0, len(inputs), step):
            items = [
                kd.views(inputs[i], self.size) for i in range(start, min(start + step, len(inputs)))
            ]
            batch = kd.to_batch(kd.stack(items), self.device)
            with torch.inference_mode():
                xyz = self.keypoints(batch["images"], batch["cams"])
            out_a.append(xyz[:, 0].double().cpu().numpy())
            out_b.append(xyz[:, 1].double().cpu().numpy())
        k = self.model.conv_xy.out_channels
        empty = np.zeros((0, k, 3))
        return {"keypoints_a": np.concatenate(out_a) if out_a else empty,
                "keypoints_b": np.concatenate(out_b) if out_b else empty}  # fmt: skip

    def keypoints(self, images: torch.Tensor, cams: torch.Tensor) -> torch.Tensor:
        """(B, 2, 3, S, S) views and (B, 2, 4) cameras → (B, 2, K, 3) camera-frame keypoints."""
        out = self.model(images.flatten(0, 1))
        xyz = unproject(out["uv"], out["z"], cams.flatten(0, 1))
        return xyz.unflatten(0, (len(images), 2))

    def example_batch(self, batch_size: int, data=None) -> torch.Tensor:
        """(B, 2, 3, S, S): both views of ``batch_size`` pairs (real ones from ``data``)."""
        if data is not None:
            return self.train_batch(batch_size, data)["images"]
        g = torch.Generator().manual_seed(0)
        return torch.rand(batch_size, 2, 3, self.size, self.size, generator=g).to(self.device)

    def infer(self, batch: torch.Tensor) -> dict:
        """Both views of each pair through OrientNet and KeypointNet (predicted flag)."""
        self.model.eval()
        return self.model(batch.flatten(0, 1))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.step = int(state.get("step", 0))
