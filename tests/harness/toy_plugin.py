"""A small but real plugin for harness tests: a bright square moving on a dark background,
a method that learns a soft-argmax keypoint detector on it (one 1x1 conv), and a method that
does not train (a fixed grid of keypoints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import kpbench
from kpbench.dataset import KeypointDataset, VideoItem
from kpbench.method import Method, TrainableMethod
from kpbench.specs import DatasetSpec, MethodSpec
from kpbench.video import VideoReader

SIZE, FRAMES = 32, 24


def write_frames(folder: Path) -> np.ndarray:
    """Write FRAMES png frames of a moving white square; return its true centre per frame (T, 1, 2)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    centres = []
    for t in range(FRAMES):
        img = np.zeros((SIZE, SIZE, 3), np.uint8)
        cx, cy = 6 + (t * 5) % 20, 8 + (t * 3) % 16
        img[cy - 2 : cy + 3, cx - 2 : cx + 3] = 255
        cv2.imwrite(str(folder / f"{t:04d}.png"), img)
        centres.append([[cx, cy]])
    return np.asarray(centres, np.float32)


class ToyData(KeypointDataset):
    name = "toy"
    tasks = ("discovery2d",)

    def __init__(self, root: Path):
        super().__init__()
        self.reader = VideoReader(root / "frames")
        self.kp = np.load(root / "centres.npy")
        self.keypoint_names = ["centre"]

    def videos(self, split=None):
        items = [
            VideoItem(self.reader, "train", 0, 16, self.kp),
            VideoItem(self.reader, "test", 16, None, self.kp),
        ]
        return [v for v in items if split in (None, v.split)]


def build_data(data_dir: Path | None, **options) -> ToyData:
    from kpbench.errors import DataError

    if data_dir is None or not (Path(data_dir) / "centres.npy").is_file():
        raise DataError(f"toy data not found at {data_dir}; write it with toy_plugin.synthesize")
    try:
        return ToyData(Path(data_dir))
    except (ValueError, OSError) as exc:
        raise DataError(f"{data_dir}/centres.npy: unreadable ({exc}); write it again") from None


def synthesize(out: Path, seed: int = 0) -> Path:
    np.save(Path(out) / "centres.npy", write_frames(Path(out) / "frames"))
    return Path(out)


class ToyMethod(TrainableMethod):
    """Soft-argmax over a learned 1x1-conv heatmap; trained to put its keypoint on bright pixels."""

    def __init__(self, config: dict):
        import torch

        self.config = config
        self.model = torch.nn.Sequential(torch.nn.Conv2d(3, config["num_keypoints"], 1))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config["lr"])

    def _tensor(self, frames):
        import torch

        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255)

    def _keypoints(self, x):
        import torch

        h = self.model(x).flatten(2).softmax(-1).view(x.shape[0], -1, SIZE, SIZE)
        grid = torch.arange(SIZE, dtype=x.dtype)
        return torch.stack([(h.sum(2) * grid).sum(-1), (h.sum(3) * grid).sum(-1)], -1)

    def train_step(self, batch) -> float:
        x = batch
        bright = x.mean(1, keepdim=True)
        w = bright.flatten(1) / bright.flatten(1).sum(1, keepdim=True).clamp_min(1e-6)
        grid = np.arange(SIZE, dtype=np.float32)
        import torch

        gx, gy = torch.meshgrid(torch.from_numpy(grid), torch.from_numpy(grid), indexing="xy")
        target = torch.stack([(w * gx.flatten()).sum(1), (w * gy.flatten()).sum(1)], -1)[:, None]
        loss = ((self._keypoints(x) - target) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def fit(self, data, ctx):
        from kpbench.training import training_loop

        frames = [f for v in data.videos("train") for _, f in v.reader.iter_frames(v.frame_range)]
        x = self._tensor(frames)
        for epoch in training_loop(ctx, self.model, self.opt, None, self.config["epochs"], "toy"):
            if self.config.get("fail_at_epoch") == epoch.index:
                raise RuntimeError("planned failure for the test")
            for _ in epoch.steps(1):
                epoch.add(self.train_step(x))

    def predict(self, inputs, ctx):
        import torch

        with torch.no_grad():
            kp = self._keypoints(self._tensor([item["load"]() for item in inputs]))
        return {"keypoints": kp.numpy().astype(np.float64)}

    def example_batch(self, batch_size, data=None):
        import torch

        if data is None:
            return torch.zeros(batch_size, 3, SIZE, SIZE)
        v = data.videos("train")[0]
        return self._tensor([f for _, f in v.reader.iter_frames(range(batch_size))])

    def train_batch(self, batch_size, data=None):
        return self.example_batch(batch_size, data)

    def infer(self, batch):
        return self._keypoints(batch)


class GridMethod(Method):
    """Keypoints fixed on a grid: predicts, never trains (no model, no training step)."""

    def __init__(self, config: dict):
        self.k = config["num_keypoints"]

    def predict(self, inputs, ctx):
        side = int(np.ceil(np.sqrt(self.k)))
        cells = (np.arange(self.k)[:, None] // [1, side] % side + 0.5) / side
        return {
            "keypoints": np.stack(
                [cells[:, ::-1] * np.asarray(item["image_size"], float) for item in inputs]
            )
        }

    def example_batch(self, batch_size, data=None):
        return batch_size

    def infer(self, batch):
        return np.zeros((batch, self.k, 2))


class ToyPlugin:
    """Registered in-process by tests (datasette style)."""

    __name__ = "toy"

    @kpbench.hookimpl
    def kpbench_datasets(self):
        return [
            DatasetSpec(
                name="toy",
                tasks=("discovery2d",),
                build=build_data,
                synthesize=synthesize,
                description="a moving square",
            )
        ]

    @kpbench.hookimpl
    def kpbench_methods(self):
        return [
            MethodSpec(
                name="toymethod",
                tasks=("discovery2d",),
                build=lambda c, num_keypoints=None: ToyMethod(c),
                defaults={"num_keypoints": 1, "lr": 0.5, "epochs": 3, "fail_at_epoch": None},
                presets={"smoke": {"epochs": 2}, "default": {"epochs": 3}, "paper": {}},
                description="soft-argmax toy",
                reference={  # Conv2d(3, 1, 1): 3 weights + 1 bias; 2·3·1·32·32 FLOPs
                    "params": 4,
                    "flops": 6144,
                    "flops_input": "one 3x32x32 frame through Method.infer (the 1x1 conv)",
                },
            ),
            MethodSpec(
                name="toygrid",
                tasks=("discovery2d",),
                build=lambda c, num_keypoints=None: GridMethod(c),
                defaults={"num_keypoints": 4},
                presets={"smoke": {}, "default": {}, "paper": {}},
                description="fixed grid keypoints (does not train)",
                trains=False,
                reference={"params": 0, "flops": 0, "flops_input": "no model"},
            ),
        ]
