"""CorrFlow: self-supervised learning for video correspondence flow (Lai & Xie, BMVC 2019).

Paper: https://arxiv.org/abs/1905.00875 — reference code: zlai0/CorrFlow (``models/``,
``main.py``). A ResNet-18 variant at stride 4 learns to reconstruct a frame by copying the
colours of the previous one within a window, through a colour-channel dropout bottleneck,
recursively over three frames with scheduled sampling and a forward-backward cycle.
``propagation``: its features under the shared propagator (``docs/trackers.md``). The
defaults are the paper's model and recipe; the reference's names are in the comments.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (models/submodule.py ResNet18(3) + corrflow.py post_convolution)
    "widths": [64, 128, 256, 256],
    "feature_dim": 64,
    "image_size": 256,  # KineticsLoader: cv2.resize to 256 × 256
    # objective (main.py, models/colorizer.py)
    "clip_frames": 3,  # KineticsFull: ref_num 3
    "frame_gap": 4,  # KineticsFull: frame_interval 4
    "radius": 6,  # Colorizer.R: a 13 × 13 window of cells
    "dropout_keep_prob": 0.3,  # CorrFlow.p: no channel dropped with this probability
    "truth_prob_start": 0.9,  # compute_ls eps_s: P(copy from the true previous frame) at start
    "truth_prob_end": 0.6,  # eps_e: at the end of training
    "cycle_weight": 0.1,  # l_sim + 0.1 · l_long
    "huber_scale": 20.0,  # Huber on 20 × the scaled Lab (as MAST's main.py)
    # optimisation (main.py)
    "batch_size": 6,  # --bsize
    "lr": 2e-4,  # --lr, Adam (0.9, 0.999)
    "lr_halve_at": [400_000, 600_000, 800_000, 1_000_000],  # adjust_lr, in samples
    "steps": 200_000,  # 1.2 M clips: past the last halving (the reference: 10 epochs of its list)
    "steps_per_epoch": 1000,
}

PRESETS = {
    "smoke": {
        "widths": [8, 8, 8, 8],
        "feature_dim": 8,
        "image_size": 32,
        "radius": 2,
        "batch_size": 2,
        "steps": 2,
        "steps_per_epoch": 1,
    },
    "default": {
        "widths": [32, 64, 64, 64],
        "feature_dim": 32,
        "image_size": 64,
        "radius": 4,
        "frame_gap": 2,
        "batch_size": 6,
        "lr": 5e-4,
        "steps": 150,
        "steps_per_epoch": 50,
    },
    "paper": {},
}

#: The reference network; one 320 × 320 frame (the propagation protocol's size) through the
#: encoder. Derivation, layer by layer: tests/plugins/corrflow.
REFERENCE = {
    "params": 5_291_648,
    "flops": 73_674_137_600,
    "flops_input": "one 320 × 320 RGB frame (the propagator's size; Lab inside) through the "
    "encoder to 64 × 80 × 80 features (torch.utils.flop_counter, 2 per multiply-add)",
}


def build(config: dict, num_keypoints: int | None = None, task=None, dims=None):
    from kpbench_plugins.corrflow.method import CorrFlowMethod

    return CorrFlowMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="corrflow",
            tasks=("propagation",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            trains=True,
            description="correspondence flow: windowed colour copying through a channel-dropout "
            "bottleneck, scheduled sampling and a cycle (BMVC 2019)",
            paper="Lai, Xie, Self-supervised Learning for Video Correspondence Flow, BMVC 2019, "
            "arXiv:1905.00875",
            reference=REFERENCE,
        )
    ]
