"""CycleTime, Learning Correspondence from the Cycle-consistency of Time (Wang, Jabri & Efros,
CVPR 2019): self-supervised features for dense tracking, scored on ``propagation``.

Paper: https://arxiv.org/abs/1903.07593 — reference code: xiaolonw/TimeCycle
(``models/videos/model_simple.py``, ``train_video_cycle_simple.py``). Training: a patch is
tracked backward through time and forward again by a differentiable tracker (affinity +
spatial transformer) and must come back where it started; skip cycles and a feature
similarity term join. Evaluation: the shared propagator of :mod:`kpbench.propagation` on the
512-channel features (ResNet-50 res4 at stride 8, ``afterconv1``, ReLU), as the reference's
``test_davis.py`` reads them; the propagation settings are the task's, not the method's. The
defaults are the paper's model and recipe; reference argument names in the comments.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (ResNet-50 res4 stride 8, not ImageNet-pretrained: --pretrained_imagenet False)
    "backbone": "resnet50",
    "dim": 512,  # afterconv1 1024 -> 512
    "temperature": 512**-0.5,  # --T
    # views (imgSize/cropSize 240, cropSize2 80: 30 x 30 and 10 x 10 feature cells)
    "img_size": 240,
    "patch_size": 80,
    "clip_len": 4,  # --videoLen
    "frame_gap": 2,  # --frame_gap
    "pred_distance": 4,  # --predDistance: the target (videoLen + predDistance) gaps on
    # loss (--lamda)
    "lam": 0.1,
    # optimisation (Adam lr 2e-4, momentum 0.5 as beta1, no weight decay, batch 36, 30 epochs)
    "batch_size": 36,
    "lr": 2e-4,
    "beta1": 0.5,
    "steps": 95_000,  # 30 epochs of ~3.2k batches (VLOG's ~114k videos / 36)
    "steps_per_epoch": 1000,  # a logged epoch and checkpoint
    "cache_frames": 20000,  # decoded training frames kept in memory
}

PRESETS = {
    "smoke": {
        "backbone": "resnet18",
        "dim": 32,
        "img_size": 80,
        "patch_size": 56,
        "clip_len": 2,
        "pred_distance": 1,
        "frame_gap": 1,
        "batch_size": 2,
        "steps": 2,
        "steps_per_epoch": 1,
    },
    "default": {
        "backbone": "resnet18",
        "dim": 128,
        "img_size": 112,
        "patch_size": 56,
        "clip_len": 3,
        "pred_distance": 2,
        "batch_size": 2,
        "steps": 60,
        "steps_per_epoch": 20,
    },
    "paper": {},
}

REFERENCE = {
    "params": 11_044_931,
    "flops": 31_729_254_400,
    "flops_input": "one 320 x 320 RGB frame (the JHMDB/DAVIS test crop) through the evaluation "
    "encoder (ResNet-50 res4 at stride 8, afterconv1, ReLU: 512 x 40 x 40 features; "
    "torch.utils.flop_counter, 2 per multiply-add); params: the whole network (encoder, "
    "afterconv1 and the tracker head)",
}


def build(config: dict, num_keypoints: int | None = None):
    from kpbench_plugins.cycletime.method import CycleTimeMethod

    return CycleTimeMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="cycletime",
            tasks=("propagation",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="cycle-consistent tracking of patches backward and forward in time: dense tracking features (CVPR 2019)",
            paper="Wang, Jabri, Efros, Learning Correspondence from the Cycle-consistency of "
            "Time, CVPR 2019, arXiv:1903.07593",
            reference=REFERENCE,
        )
    ]
