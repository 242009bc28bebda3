"""UVC, Joint-task Self-supervised Learning for Temporal Correspondence (Li, Liu, De Mello,
Wang, Kautz & Yang, NeurIPS 2019): self-supervised features for dense tracking, scored on
``propagation``.

Paper: https://arxiv.org/abs/1909.11895 — reference code: Liusifei/UVC (``model.py``,
``track_match_v1.py``, ``libs/``). Training: region-level localisation of a patch in the next
frame by affinity, fine-grained colour matching inside the box, with the concentration and
colour-switch (orthogonality) regularisers. Evaluation: the shared propagator of
:mod:`kpbench.propagation` on the grey encoder's ``layer3`` features; the propagation settings
are the task's, not the method's. The defaults are the paper's model and the released
recipe; reference argument names in the comments.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # views (--patch_size 256 --full_size 640 --rotate 10; pairs up to 50 frames apart)
    "patch_size": 256,
    "full_size": 640,
    "rotate": 10.0,
    "max_gap": 50,
    # objective (--temp 1, --lc 0.3, --lc_win 8, colour switch 0.1, --coord_switch 0)
    "temp": 1.0,  # affinity = temp x dot product of the raw features (NLM_woSoft)
    # L2-normalise the features first (cosine x temp). Not in the reference: from scratch the
    # raw dot products of 512-d ReLU features are in the hundreds, the softmax is one-hot and
    # short runs do not learn, so the CPU presets use cosine / 0.07 (CRW's temperature).
    "normalise": False,
    "lc": 0.3,
    "lc_win": 8,
    "colour_switch": 0.1,  # weight of the copy back with A^T (libs/loss.py L1_loss)
    "coord_switch": 0.0,  # the README's released model trains without it (argument default 0.1)
    # optimisation (Adam lr 1e-4, poly decay; --wepoch 10 --nepoch 30 --batchsize 40)
    "batch_size": 40,
    "lr": 1e-4,
    "lr_power": 0.9,
    "steps": 180_000,  # 30 epochs of ~6k batches (Kinetics-400's ~240k train videos / 40)
    "warmup_steps": 60_000,  # the first 10 epochs: matching of same-place patches only
    "steps_per_epoch": 1000,  # a logged epoch and checkpoint
    "cache_frames": 20000,  # decoded training frames kept in memory
}

PRESETS = {
    "smoke": {
        "patch_size": 16,
        "full_size": 32,
        "batch_size": 2,
        "steps": 2,
        "warmup_steps": 1,
        "steps_per_epoch": 1,
        "lc_win": 2,
        "max_gap": 2,
        "normalise": True,
        "temp": 1 / 0.07,
    },
    "default": {
        "patch_size": 48,
        "full_size": 96,
        "batch_size": 4,
        "steps": 80,
        "warmup_steps": 20,
        "steps_per_epoch": 20,
        "lc_win": 3,
        "max_gap": 10,
        "lr": 3e-4,
        "normalise": True,
        "temp": 1 / 0.07,
    },
    "paper": {},
}

REFERENCE = {
    "params": 11_176_512,
    "flops": 10_759_577_600,
    "flops_input": "one 320 x 320 RGB frame (the JHMDB propagation size) through the evaluation "
    "encoder (Lab lightness, ResNet-18 to layer3 at stride 8: 256 x 40 x 40 features; "
    "torch.utils.flop_counter, 2 per multiply-add); params: the whole trained network (the "
    "encoder and its training-only layer4)",
}


def build(config: dict, num_keypoints: int | None = None):
    from kpbench_plugins.uvc.method import UVCMethod

    return UVCMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="uvc",
            tasks=("propagation",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="joint region localisation and fine-grained colour matching: dense tracking features (NeurIPS 2019)",
            paper="Li, Liu, De Mello, Wang, Kautz, Yang, Joint-task Self-supervised Learning for "
            "Temporal Correspondence, NeurIPS 2019, arXiv:1909.11895",
            reference=REFERENCE,
        )
    ]
