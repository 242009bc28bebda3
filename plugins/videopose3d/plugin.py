"""VideoPose3D (Pavllo et al., CVPR 2019): dilated temporal convolutions over keypoint sequences.

Paper: https://arxiv.org/abs/1811.11742 — reference code:
https://github.com/facebookresearch/VideoPose3D. ``lifting3d``: 2D keypoints → root-relative 3D
poses; ``behavior``: the same network classifying every frame (CalMS21). The defaults are the
paper's 243-frame Human3.6M model and recipe (``kpbench info videopose3d``); ``--set
filter_widths=[3,3,3]`` gives 27 frames, ``[3,3,3,3]`` 81, ``[1]`` a single-frame model.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (common/model.py; README: the 243-frame CPN model)
    "filter_widths": [3, 3, 3, 3, 3],  # receptive field = product: 243 frames
    "channels": 1024,
    "dropout": 0.25,
    "causal": False,
    "num_joints": 17,  # without a dataset (kpbench info); a run takes the dataset's K
    # optimisation (common/arguments.py, run.py)
    "lr": 1e-3,
    "lr_decay": 0.95,  # per epoch
    "bn_momentum": 0.1,  # decayed exponentially to bn_momentum_final over the epochs
    "bn_momentum_final": 0.001,
    "batch_size": 1024,  # output frames per batch
    "epochs": 80,  # the README's 243-frame run (60 is the argument default)
    "steps_per_epoch": None,  # None: one pass over the training frames
    "flip_augment": True,  # lifting: mirror 2D and 3D, swap left/right joints
    "test_flip": True,  # lifting: average with the flipped input's prediction
    "max_frames_per_sequence": None,
    "class_weights": "none",  # behavior: "none" (the CalMS21 baselines pass none) or "balanced"
    "timing_batch_size": 256,  # windows per timed training step / inference call
}

PRESETS = {
    "smoke": {
        "filter_widths": [3, 3],
        "channels": 32,
        "epochs": 2,
        "steps_per_epoch": 3,
        "batch_size": 64,
        "timing_batch_size": 8,
    },
    "default": {
        "filter_widths": [3, 3, 3, 3],  # 81 frames
        "channels": 256,
        "epochs": 12,
        "steps_per_epoch": 60,
        "batch_size": 256,
        "lr_decay": 0.9,
        "timing_batch_size": 64,
    },
    "paper": {},  # the defaults are the paper's configuration
}

#: Reference figures of the paper's models (17 joints in and out, 1024 channels): parameters
#: counted on the reference structure (identical in the sequence and single-frame forms).
REFERENCE = {
    "params": 16_952_371,  # 243 frames
    "flops": 352_569_344,
    "flops_input": "one 243-frame window of 17 2D joints through the single-frame (strided) "
    "form, one output frame (torch.utils.flop_counter, 2 per multiply-add); equal to the "
    "same counter on the reference TemporalModelOptimized1f",
    "params_27": 8_555_571,
    "params_81": 12_753_971,
    "params_243": 16_952_371,
    "flops_27": 35_538_944,
    "flops_81": 114_796_544,
    # the sequence (dilated) form over a long sequence computes each layer once per output
    # frame: 36.46 MFLOPs per frame at 243 frames (2,000 frames counted)
    "flops_per_frame_sequence_243": 36_459_758,
}


def build(config: dict, num_keypoints: int | None = None, task=None, dims=None):
    """The lifting model (``lifting3d``, the default) or the frame classifier (``behavior``)."""
    dims = dict(dims or {})
    if task == "behavior":
        from kpbench_plugins.videopose3d.behavior import BehaviorMethod

        return BehaviorMethod(config, dims.get("A", 2), dims.get("K", 7), dims.get("C", 4))
    from kpbench_plugins.videopose3d.lifting import LiftingMethod

    return LiftingMethod(config, num_keypoints or dims.get("K") or config["num_joints"])


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="videopose3d",
            tasks=("lifting3d", "behavior"),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="dilated temporal convolutions: 2D→3D lifting, per-frame behaviour (CVPR 2019)",
            paper="Pavllo, Feichtenhofer, Grangier, Auli, 3D human pose estimation in video with "
            "temporal convolutions and semi-supervised training, CVPR 2019, arXiv:1811.11742",
            reference=REFERENCE,
        )
    ]
