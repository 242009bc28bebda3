"""BKinD (Sun*, Ryou* et al., CVPR 2022): self-supervised keypoint discovery in behavioural videos.

Paper: https://arxiv.org/abs/2112.05121 — reference code: https://github.com/neuroethology/BKinD.
The defaults below are the paper's CalMS21 model and recipe (``kpbench info bkind``); the
presets size the same code for tests (``smoke``), 2 CPU cores (``default``) and a GPU (``paper``).
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (reference: config/CalMS21.yaml, model/unsupervised_model.py)
    "num_keypoints": 10,
    "image_size": 256,
    "backbone": "resnet50",
    "decoder_channels": [1024, 512, 256, 128, 64],
    "head_channels": 256,
    "gaussian_vars": [0.1, 0.1, 0.01, 0.01, 0.001],
    "encoder_weights": "auto",  # "auto": torchvision ImageNet file from $KPBENCH_WEIGHTS or the torch cache
    # losses
    "perceptual": "auto",  # "auto": VGG-19 features when ImageNet weights are found, else pixel MSE
    "vgg_weights": "auto",
    "curriculum": 4,  # rotation-equivariance and separation losses from this (0-based) epoch on
    # data
    "frame_gap": 6,  # T, frames between the two frames of a pair (0.2 s at 30 fps)
    "pair_stride": 7,  # a new pair every 7 frames
    "max_frames_per_video": None,
    "preprocess": None,  # or "colour_mask" (HSV mask + bitwise AND, hsv_lower..hsv_upper)
    "hsv_lower": [90, 50, 50],
    "hsv_upper": [130, 255, 255],
    # optimisation (train_video.py)
    "batch_size": 5,
    "epochs": 15,
    "steps_per_epoch": None,
    "optimizer": "sgd",
    "lr": 1e-3,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_step_epochs": 15,
    "amp": False,  # bf16 autocast on CUDA
    "channels_last": False,
    # prediction, export, timing (which frames are evaluated is the discovery2d task's protocol)
    "eval_batch_size": 16,
    "export_max_frames": None,
    "overlay_frames": 150,
    "timing_batch_size": 5,
    # propagation: the encoder of an earlier run's checkpoint (checkpoint.pt, run folder or record)
    "checkpoint": None,
}

PRESETS = {
    "smoke": {
        "image_size": 64,
        "backbone": "resnet18",
        "decoder_channels": [64, 32, 32, 16, 16],
        "head_channels": 32,
        "batch_size": 4,
        "epochs": 2,
        "curriculum": 1,
        "steps_per_epoch": 3,
        "max_frames_per_video": 40,
        "frame_gap": 3,
        "pair_stride": 3,
        "optimizer": "adam",
        "lr": 1e-3,
        "export_max_frames": 30,
        "overlay_frames": 12,
        "timing_batch_size": 2,
        "perceptual": "pixel",
    },
    "default": {
        "image_size": 96,
        "backbone": "resnet18",
        "decoder_channels": [256, 128, 64, 32, 32],
        "head_channels": 64,
        "batch_size": 8,
        "epochs": 5,
        "curriculum": 2,
        "steps_per_epoch": 50,
        "max_frames_per_video": 300,
        "frame_gap": 3,
        "pair_stride": 2,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "lr_step_epochs": 4,
        "export_max_frames": 300,
        "overlay_frames": 90,
        "timing_batch_size": 8,
        "perceptual": "pixel",
    },
    "paper": {},  # the defaults are the paper's configuration
}

#: The reference model's figures (K=10, 256×256, ResNet-50), pinned by the generic
#: reference test for every method (tests/harness/test_reference.py) and by the model tests.
REFERENCE = {
    "params": 63_124_819,  # github.com/neuroethology/BKinD model/unsupervised_model.py, counted
    "flops": 13_113_491_456,  # one frame through detect (encoder + keypoint head)
    "flops_input": "one 3x256x256 frame through Method.infer (encoder + keypoint head)",
    "flops_train_pair": 101_655_248_896,  # the training forward on a (t, t+T) pair
    "params_by_block": {
        "encoder": 23_508_032,
        "keypoint_head": 1_539_664,
        "decoder": 38_077_123,
    },
}


def build(config: dict, num_keypoints: int | None = None, task: str | None = None):
    """Build BKinD from a resolved config (``num_keypoints`` of the dataset is not used: K is
    discovered); for ``propagation``, its encoder alone (:mod:`.propagation`)."""
    if task == "propagation":
        from kpbench_plugins.bkind.propagation import build_propagation

        return build_propagation(config)
    from kpbench_plugins.bkind.method import BKinDMethod

    return BKinDMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="bkind",
            tasks=("discovery2d", "propagation"),
            frozen_tasks=("propagation",),  # its encoder, from a checkpoint, without training
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="self-supervised keypoint discovery in behavioural videos (CVPR 2022)",
            paper="Sun, Ryou et al., Self-Supervised Keypoint Discovery in Behavioral Videos, CVPR 2022, arXiv:2112.05121",
            reference=REFERENCE,
        )
    ]
