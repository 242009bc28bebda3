"""HRNet (Sun et al., CVPR 2019): supervised top-down 2D keypoints from high-resolution heatmaps.

Paper: https://arxiv.org/abs/1902.09212 — reference code:
https://github.com/leoxiaobin/deep-high-resolution-net.pytorch. The defaults are the paper's COCO
model and recipe (W32, 256×192, ``experiments/coco/hrnet/w32_256x192_adam_lr1e-3.yaml``); the
presets size the same code for tests (``smoke``), 2 CPU cores (``default``) and a GPU
(``paper``). ``--set width=48`` gives W48, ``--set image_size=[288,384] --set sigma=3`` the 384×288
model, ``--set image_size=[256,256]`` a square input for animal frames.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (lib/models/pose_hrnet.py; experiments/coco/hrnet/w32_256x192_adam_lr1e-3.yaml)
    "width": 32,  # 32 or 48: channels of the high-resolution branch
    "num_keypoints": 17,  # used without a dataset (kpbench info); a run takes the dataset's K
    "image_size": [192, 256],  # (W, H) of the input crop; heatmaps are a quarter of it
    "sigma": 2,  # Gaussian target sigma, heatmap px (3 for 288×384)
    "padding": 1.25,  # box enlargement around the instance
    "pretrained": "auto",  # ImageNet backbone: a path, "auto" (search $KPBENCH_WEIGHTS, torch cache), or none
    # augmentation (lib/dataset/JointsDataset.py, coco.py)
    "scale_factor": 0.35,
    "rotation_factor": 45,  # degrees; clipped to ±2× this
    "rotation_prob": 0.6,
    "flip": True,
    "half_body_prob": 0.3,
    "half_body_min_keypoints": 8,
    # optimisation (lib/core/function.py, lib/utils/utils.py)
    "optimizer": "adam",
    "lr": 1e-3,
    "lr_steps": [170, 200],
    "lr_factor": 0.1,
    "weight_decay": 0.0,  # the yaml says 1e-4, but get_optimizer never hands it to Adam
    "epochs": 210,
    "batch_size": 32,  # per process; the paper ran 4 GPUs × 32
    "steps_per_epoch": None,  # None: one pass over the data; more repeats passes
    "max_train_instances": None,
    "workers": 4,
    "amp": False,  # bf16 autocast on CUDA
    "channels_last": False,
    # test (experiments yaml TEST section)
    "flip_test": True,
    "shift_heatmap": True,
    "eval_batch_size": 32,
    "timing_batch_size": 8,
    # propagation: the backbone of an earlier run's checkpoint (checkpoint.pt, run folder or record)
    "checkpoint": None,
}

PRESETS = {
    "smoke": {
        "width": 8,
        "image_size": [64, 64],
        "sigma": 1,
        "pretrained": None,
        "epochs": 2,
        "steps_per_epoch": 2,
        "batch_size": 4,
        "max_train_instances": 16,
        "lr_steps": [1],
        "workers": 0,
        "eval_batch_size": 8,
        "timing_batch_size": 2,
    },
    "default": {
        "width": 16,
        "image_size": [128, 128],
        "sigma": 2,
        "epochs": 12,
        "steps_per_epoch": 25,
        "batch_size": 16,
        "max_train_instances": 800,
        "lr_steps": [9, 11],
        "rotation_factor": 30,
        "workers": 0,
        "eval_batch_size": 16,
    },
    "paper": {},  # the defaults are the paper's configuration
}

#: The reference model's figures (W32, K = 17, one 3×256×192 crop), pinned by the generic
#: reference test (tests/harness/test_reference.py) and by the model tests.
REFERENCE = {
    "params": 28_536_113,  # pose_hrnet.py W32, 17 keypoints (the README's 28.5M)
    "flops": 15_290_007_552,  # = FlopCounterMode on the reference pose_hrnet.py (7.65 GMACs)
    "flops_input": "one 3x256x192 crop through Method.infer (one forward, no flip test); "
    "torch.utils.flop_counter counts a multiply-add as 2 FLOPs (7.65 G multiply-adds). The "
    "paper's 7.1 GFLOPs is the same count as the reference's get_model_summary gives it: conv "
    "multiply-adds / 1024^3",
    "params_w48": 63_595_745,
    "flops_w48": 31_383_650_304,  # W48 at 256×192 (15.69 GMACs; the paper says 14.6 GFLOPs)
    "flops_w32_384x288": 34_402_516_992,  # (17.2 GMACs; the paper says 16.0)
}


def build(config: dict, num_keypoints: int | None = None, task: str | None = None):
    """Build HRNet from a resolved config, with the dataset's ``num_keypoints`` when given; for
    ``propagation``, its backbone alone (:mod:`.propagation`)."""
    if task == "propagation":
        from kpbench_plugins.hrnet.propagation import build_propagation

        return build_propagation(config)
    from kpbench_plugins.hrnet.method import HRNetMethod

    return HRNetMethod(config, num_keypoints)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="hrnet",
            tasks=("pose2d", "propagation"),
            frozen_tasks=("propagation",),  # its backbone, from a checkpoint, without training
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="supervised top-down 2D keypoints, high-resolution heatmaps (CVPR 2019)",
            paper="Sun, Xiao, Liu, Wang, Deep High-Resolution Representation Learning for Human "
            "Pose Estimation, CVPR 2019, arXiv:1902.09212",
            reference=REFERENCE,
            # the default preset peaked at 3.8 GiB (2,400 SLEAP instances, context crops in memory)
            requires={"min_memory_gib": 4},
        )
    ]
