"""CRW, Space-Time Correspondence as a Contrastive Random Walk (Jabri, Owens & Efros, NeurIPS
2020): self-supervised features for dense tracking, scored on ``propagation``.

Paper: https://arxiv.org/abs/2006.14613 — reference code: ajabri/videowalk (``code/model.py``,
``train.py``, ``utils/augs.py``). Training: a random walk on a space-time graph of patches
must return to its start along palindrome clips. Evaluation: the shared propagator of
:mod:`kpbench.propagation` on the encoder's ``layer3`` features (the reference's test
encoder); the propagation settings are the task's, not the method's. The defaults are the
paper's model and recipe; reference argument names in the comments.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (--model-type scratch: ResNet-18, layer3/4 stride 1, reflect padding)
    "embed_dim": 128,  # --head-depth 0: one linear layer 512 -> 128
    "padding": "reflect",
    # views (--frame-transforms crop --frame-aug grid --img-size 256 --patch-size 64 64 3)
    "img_size": 256,
    "patch_size": 64,
    "patch_stride": 0.5,  # patch_grid's stride, a fraction of the patch: 7 x 7 patches
    "clip_len": 4,  # --clip-len
    "frame_gap": 4,  # --frame-skip 8: Kinetics sampled at 8 fps, about every 4th frame of 30
    # walk
    "temperature": 0.07,  # --temp (paper; the README's command uses 0.05)
    "edge_dropout": 0.1,  # --dropout
    # optimisation (Adam, lr 1e-4, MultiStepLR gamma 0.3; 25 epochs)
    "batch_size": 20,  # -b 20 in the README's command
    "lr": 1e-4,
    "weight_decay": 0.0,
    "lr_milestones": (240_000,),  # epoch 20 of 25 (the others, 30 and 40, are never reached)
    "lr_gamma": 0.3,
    "steps": 300_000,  # 25 epochs of ~12k batches (Kinetics-400's ~240k train videos / 20)
    "steps_per_epoch": 1000,  # a logged epoch and checkpoint
    "cache_frames": 20000,  # decoded training frames kept in memory
}

PRESETS = {
    "smoke": {
        "img_size": 32,
        "patch_size": 16,
        "clip_len": 3,
        "batch_size": 2,
        "steps": 2,
        "steps_per_epoch": 1,
        "frame_gap": 1,
    },
    "default": {
        "img_size": 48,
        "patch_size": 16,
        "batch_size": 2,
        "steps": 80,
        "steps_per_epoch": 20,
        "lr": 3e-4,
        "frame_gap": 2,
        "lr_milestones": (60,),
    },
    "paper": {},
}

REFERENCE = {
    "params": 11_242_176,
    "flops": 10_757_734_400,
    "flops_input": "one 320 x 320 RGB frame (the JHMDB propagation size) through the evaluation "
    "encoder (ResNet-18 to layer3 at stride 8: 256 x 40 x 40 features; torch.utils.flop_counter, "
    "2 per multiply-add); params: the whole trained network (encoder, training-only layer4, "
    "linear head)",
}


def build(config: dict, num_keypoints: int | None = None):
    from kpbench_plugins.crw.method import CRWMethod

    return CRWMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="crw",
            tasks=("propagation",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="contrastive random walk on a space-time patch graph: dense tracking features (NeurIPS 2020)",
            paper="Jabri, Owens, Efros, Space-Time Correspondence as a Contrastive Random Walk, "
            "NeurIPS 2020, arXiv:2006.14613",
            reference=REFERENCE,
        )
    ]
