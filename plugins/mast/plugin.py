"""MAST: a memory-augmented self-supervised tracker (Lai, Lu & Xie, CVPR 2020).

Paper: https://arxiv.org/abs/2002.07793 — reference code: zlai0/MAST (``models/``,
``main.py``). CorrFlow's stride-4 ResNet-18 learns to reconstruct the dropped ab channel of
a Lab frame from a memory of earlier frames: near ones through a window at the same
position, far (long-term) ones through a two-step ROI (a coarse dilated match, then the
window around it). ``propagation``: its features under the shared propagator
(``docs/trackers.md``). The defaults are the paper's model and recipe.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec
from kpbench_plugins.corrflow.plugin import REFERENCE as CORRFLOW_REFERENCE

DEFAULTS = {
    # model (models/mast.py: ResNet18(3) + post_convolution 256 → 64, D = 4)
    "widths": [64, 128, 256, 256],
    "feature_dim": 64,
    "image_size": 256,  # YTVOSTrainLoader: cv2.resize to 256 × 256
    # memory and ROI (models/colorizer.py)
    "clip_frames": 5,  # frames 0..4; the last is the target (current_ind 4)
    "memory_frames": [0, 2],  # ref_index [0, 2]
    "gaps": [2, 5, 8],  # YouTubeVOSTrain frame_interval
    "gap_probs": [0.4, 0.4, 0.2],
    "radius": 6,  # R in training (12 at test in the reference; the shared propagator here)
    "coarse_radius": 12,  # memory_patch_R
    "roi_after": 15,  # dil_int: memory frames farther than this are read through the ROI
    "max_dilation": 4,
    "huber_scale": 20.0,  # smooth_l1_loss(outputs·20, tar_y·20)
    # optimisation (main.py)
    "batch_size": 12,  # --bsize
    "lr": 1e-3,  # --lr, Adam (0.9, 0.999)
    "lr_halve_at": [400_000, 600_000, 800_000, 1_000_000],  # adjust_lr, in samples
    "steps": 100_000,  # 1.2 M clips: past the last halving (the reference: 20 epochs of YT-VOS)
    "steps_per_epoch": 1000,
}

PRESETS = {
    "smoke": {
        "widths": [8, 8, 8, 8],
        "feature_dim": 8,
        "image_size": 32,
        "radius": 2,
        "coarse_radius": 2,
        "gaps": [1, 5],
        "gap_probs": [0.5, 0.5],
        "roi_after": 4,
        "batch_size": 2,
        "steps": 2,
        "steps_per_epoch": 1,
    },
    "default": {
        "widths": [32, 64, 64, 64],
        "feature_dim": 32,
        "image_size": 64,
        "radius": 4,
        "coarse_radius": 6,
        "batch_size": 6,
        "lr": 5e-4,
        "steps": 150,
        "steps_per_epoch": 50,
    },
    "paper": {},
}

#: The reference network (CorrFlow's); one 320 × 320 frame (the propagation protocol's size)
#: through the encoder. Derivation, layer by layer: tests/plugins/mast.
REFERENCE = CORRFLOW_REFERENCE


def build(config: dict, num_keypoints: int | None = None, task=None, dims=None):
    from kpbench_plugins.mast.method import MASTMethod

    return MASTMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="mast",
            tasks=("propagation",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            trains=True,
            description="memory-augmented self-supervised tracker: Lab reconstruction from "
            "short- and long-term memory with ROI localisation (CVPR 2020)",
            paper="Lai, Lu, Xie, MAST: A Memory-Augmented Self-Supervised Tracker, CVPR 2020, "
            "arXiv:2002.07793",
            reference=REFERENCE,
        )
    ]
