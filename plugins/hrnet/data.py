"""HRNet's training samples: context crops decoded once, augmented per epoch, Gaussian targets.

Each labelled training instance is decoded once into a **context crop**: the region any
augmented crop of it can reach (the padded box × the largest scale × √2 for rotation), kept at
the finest resolution an augmented crop samples it, so every epoch warps from memory instead of
seeking the video again. The augmented crop composes its affine with the context's, so it sees
the same pixels a warp of the full frame would (black outside the frame, as the reference).

Augmentation as the reference's ``JointsDataset.__getitem__``: half-body (p 0.3, more than 8
labelled keypoints), scale ``clip(N(0,1)·sf + 1, 1 ± sf)``, rotation ``clip(N(0,1)·rf, ±2rf)``
with p 0.6, horizontal flip p 0.5 with the dataset's left/right pairs swapped. The flip runs
on the crop through torchvision's v2 ``horizontal_flip`` on an ``Image`` and its ``KeyPoints``
together (``x' = W − 1 − x``), so pixels and labels cannot disagree.
"""

from __future__ import annotations

import numpy as np
import torch

from kpbench_plugins.hrnet import crops
from kpbench_plugins.hrnet.heatmaps import gaussian_targets

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
#: Keypoint name fragments of the upper body (COCO: nose … wrists), for half-body crops.
UPPER_BODY = ("nose", "eye", "ear", "head", "neck", "shoulder", "elbow", "wrist", "snout")


def to_tensor(crops_rgb: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB → ``(N, 3, H, W)`` float32, ImageNet-normalised."""
    x = (np.asarray(crops_rgb, np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def upper_body(names: list[str]) -> np.ndarray:
    """``(K,)`` bool: keypoints of the upper body by name (empty halves turn half-body off)."""
    return np.array([any(f in n.lower() for f in UPPER_BODY) for n in names], bool)


def load_in_order(frames) -> list[np.ndarray]:
    """Each frame's image, decoding a source frame once (one frame's animals, one image's
    persons share its ``source``)."""
    key = [f.source for f in frames]
    images: list = [None] * len(frames)
    last_key, last = None, None
    for i in sorted(range(len(frames)), key=key.__getitem__):
        if key[i] != last_key:
            last_key, last = key[i], frames[i].load()
        images[i] = last
    return images


class TrainCrops(torch.utils.data.Dataset):
    """Augmented ``(image, target heatmaps, target weights)`` for labelled instances.

    Args:
        frames: the ``LabeledFrame`` instances to train on (each with a labelled keypoint).
        config: the resolved HRNet config (``image_size``, ``sigma``, augmentation keys).
        flip_pairs: left/right keypoint index pairs.
        upper: ``(K,)`` bool upper-body mask (half-body augmentation).
        seed: the run's seed; each (epoch, sample) draws from its own generator, so a resumed
            run sees the augmentations an uninterrupted one would.
    """

    def __init__(self, frames, config: dict, flip_pairs, upper: np.ndarray, seed: int = 0):
        self.config = config
        self.size = tuple(int(v) for v in config["image_size"])  # (W, H)
        self.heatmap = (self.size[0] // 4, self.size[1] // 4)
        self.aspect = self.size[0] / self.size[1]
        self.pairs = [tuple(p) for p in flip_pairs]
        self.upper = np.asarray(upper, bool)
        self.seed, self.epoch, self.repeat = int(seed), 0, 0
        self.keypoints, self.weights, self.contexts = [], [], []
        sf = float(config["scale_factor"])
        reach = (1 + sf) * (1.5 if config["half_body_prob"] > 0 else 1.0) * np.sqrt(2)
        for frame, image in zip(frames, load_in_order(frames)):
            center, size = crops.box_to_center_size(frame.bbox(), self.aspect, config["padding"])
            finest = self.size[0] / (size[0] * max(1 - sf, 0.1))  # crop px per frame px, at most
            zoom = min(1.0, finest)
            ctx_size = np.ceil(size * reach * zoom).astype(int)
            m = crops.crop_matrix(center, ctx_size / zoom, tuple(ctx_size))
            self.contexts.append((crops.warp(image, m, tuple(ctx_size)), m, center, size))
            self.keypoints.append(np.asarray(frame.keypoints, np.float64))
            self.weights.append((frame.visible() > 0).astype(np.float32))

    def __len__(self) -> int:
        return len(self.contexts)

    def set_epoch(self, epoch: int, repeat: int = 0) -> None:
        """Draw the augmentations of ``epoch`` (``repeat``: a further pass within it)."""
        self.epoch, self.repeat = int(epoch), int(repeat)

    def _half_body(self, kp: np.ndarray, labelled: np.ndarray, rng) -> tuple | None:
        halves = [labelled & self.upper, labelled & ~self.upper]
        if not (halves[0].sum() > 2 or halves[1].sum() > 2):
            return None
        pick = halves[0] if (rng.standard_normal() < 0.5 and halves[0].sum() > 2) else halves[1]
        pick = pick if pick.sum() > 2 else halves[0]
        pts = kp[pick]
        lo, hi = pts.min(0), pts.max(0)
        box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
        return crops.box_to_center_size(box, self.aspect, 1.5)

    def sample(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The augmented crop ``(H, W, 3)`` uint8 and its keypoints ``(K, 2)`` crop px."""
        c = self.config
        context, m_ctx, center, size = self.contexts[i]
        kp, weight = self.keypoints[i], self.weights[i]
        labelled = weight > 0
        if labelled.sum() > c["half_body_min_keypoints"] and rng.random() < c["half_body_prob"]:
            half = self._half_body(kp, labelled, rng)
            if half is not None:
                center, size = half
        sf, rf = float(c["scale_factor"]), float(c["rotation_factor"])
        size = size * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
        rot = (
            np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf)
            if rng.random() <= c["rotation_prob"]
            else 0.0
        )
        m = crops.crop_matrix(center, size, self.size, rot)
        from_ctx = _compose(m, crops.invert(m_ctx))
        image = crops.warp(context, from_ctx, self.size)
        points = crops.transform(kp, m)
        if c["flip"] and rng.random() <= 0.5:
            image, points = flip(image, points, self.pairs)
        return image, points

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, self.repeat, i])
        image, points = self.sample(i, rng)
        target, weight = gaussian_targets(
            points / 4.0, self.weights[i], self.heatmap, self.config["sigma"]
        )
        return to_tensor(image[None])[0], torch.from_numpy(target), torch.from_numpy(weight)


def flip(image: np.ndarray, points: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a crop and its keypoints with torchvision v2 (``x' = W − 1 − x``), swapping pairs."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as F

    h, w = image.shape[:2]
    img = F.horizontal_flip(tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1)))
    kp = F.horizontal_flip(tv_tensors.KeyPoints(torch.from_numpy(points), canvas_size=(h, w)))
    out = kp.as_subclass(torch.Tensor).numpy().copy()
    for a, b in pairs:
        out[[a, b]] = out[[b, a]]
    return img.permute(1, 2, 0).numpy().copy(), out


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ∘ b`` of two ``2×3`` affines."""
    a3, b3 = np.vstack([a, [0, 0, 1]]), np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]
