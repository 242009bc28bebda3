"""TCC, Temporal Cycle-Consistency learning (Dwibedi et al., CVPR 2019): per-frame embeddings.

Paper: https://arxiv.org/abs/1904.07846 — reference code: google-research/google-research
``tcc/``. ``alignment``: embeddings of every frame that align sequences of one action, from
pixels (ResNet-50 cut at its fourth stage's third block, the 3D-conv embedder) or, the pose
variant, from keypoints. ``behavior``: the pose variant trained on windows of the keypoint
sequences, read out per frame by a logistic-regression probe. The defaults are the paper's
model and recipe (``kpbench info tcc``); the reference's ``tcc/config.py`` names are in the
comments.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # input and encoder (MODEL.BASE_MODEL: Resnet50_pretrained, conv4_block3_out)
    "input": "auto",  # frames, keypoints, or auto: frames when every sequence has them
    "backbone": "resnet50",  # torchvision ResNet-50 through layer3[2]; resnet18 through layer3
    "pretrained": "auto",  # ImageNet file: a path, "auto" ($KPBENCH_WEIGHTS, torch cache), none
    "train_base": "only_bn",  # MODEL.TRAIN_BASE: only_bn, frozen, train_all
    "image_size": 224,  # IMAGE_SIZE
    "keypoint_channels": 512,  # pose variant: the per-frame MLP's width
    # embedder (MODEL.CONV_EMBEDDER_MODEL, CAPACITY_SCALAR 2 applied)
    "context_frames": 2,  # DATA.NUM_STEPS: the frame and its past context frames
    "context_stride": 15,  # DATA.FRAME_STRIDE
    "embedder_channels": 512,
    "embedder_conv_layers": 2,
    "fc_channels": 512,
    "fc_layers": 2,
    "dropout": 0.1,  # FC_DROPOUT_RATE
    "embedding_size": 128,
    "l2_reg_weight": 1e-5,  # MODEL.L2_REG_WEIGHT on the embedder
    # loss (ALIGNMENT)
    "loss": "regression_mse_var",  # classification, regression_mse, regression_mse_var, regression_huber
    "similarity": "l2",
    "temperature": 0.1,
    "label_smoothing": 0.1,
    "variance_lambda": 0.001,
    "huber_delta": 0.1,
    # sampling and optimisation (TRAIN, DATA, OPTIMIZER, AUGMENTATION)
    "batch_videos": 2,
    "num_frames": 20,
    "sampling_offset": 1,  # DATA.RANDOM_OFFSET
    "augment": True,  # flip, brightness ±32/255, contrast [0.5, 1.5] (keypoints: scale)
    "flip": True,  # the horizontal flip of "augment" (off: never mirror a clip)
    "lr": 1e-4,
    "steps": 150_000,  # TRAIN.MAX_ITERS
    "steps_per_epoch": 1000,  # a logged epoch and checkpoint (CHECKPOINT.SAVE_INTERVAL)
    "alignment_window": 0,  # > 0: align random windows of this many frames (periodic motion)
    # behavior (not in the reference: the windows TCC aligns and the linear probe)
    "behavior_window": 256,
    "probe_max_frames": 20000,
    "probe_c": 1.0,
    # prediction and timing
    "embed_batch": 64,  # frames per forward pass when embedding a sequence
    "timing_batch_size": 40,  # one recipe batch: 2 videos × 20 frames
    # propagation: the encoder of an earlier run's checkpoint (checkpoint.pt, run folder or record)
    "checkpoint": None,
}

PRESETS = {
    "smoke": {
        "backbone": "resnet18",
        "image_size": 32,
        "keypoint_channels": 16,
        "embedder_channels": 16,
        "fc_channels": 16,
        "embedding_size": 8,
        "num_frames": 6,
        "steps": 4,
        "steps_per_epoch": 2,
        "context_stride": 3,
        "behavior_window": 20,
        "probe_max_frames": 500,
        "timing_batch_size": 6,
    },
    "default": {
        "backbone": "resnet18",
        "image_size": 64,
        "train_base": "train_all",
        "keypoint_channels": 128,
        "embedder_channels": 128,
        "fc_channels": 128,
        "num_frames": 20,
        "steps": 1200,  # ~8 min on 2 free CPU cores on the actions twin (docs/tcc.md)
        "steps_per_epoch": 200,
        "lr": 3e-4,
        "context_stride": 5,
        "flip": False,  # a twin's clips all move one way round (docs/tcc.md, Measured)
        "behavior_window": 128,
        "probe_max_frames": 5000,
    },
    "paper": {},  # the defaults are the paper's configuration
}

#: The paper's model: ResNet-50 through layer3[2] + the conv embedder (derivation in
#: tests/plugins/tcc/test_model.py and docs/tcc.md).
REFERENCE = {
    "params": 27_019_456,
    "flops": 27_139_571_712,
    "flops_input": "one frame with its context frame: (1, 2, 3, 224, 224) through the ResNet-50 "
    "cut (both frames) and the embedder to one 128-d embedding (torch.utils.flop_counter, 2 per "
    "multiply-add; element-wise work not counted)",
    "params_backbone": 5_191_744,
    "params_embedder": 21_827_712,
    "flops_backbone_per_frame": 5_245_599_744,  # one 224² frame through the cut
    "flops_embedder": 16_648_372_224,  # the (2, 14, 14) volume of 1024 channels to 128-d
}


def build(config: dict, num_keypoints: int | None = None, task=None, dims=None):
    """The alignment embedder (``alignment``, and ``kpbench info``); for ``behavior``, the
    pose variant with its linear probe; for ``propagation``, the frame encoder alone."""
    dims = dict(dims or {})
    if task == "propagation":
        from kpbench_plugins.tcc.propagation import build_propagation

        return build_propagation(config)
    if task == "behavior":
        from kpbench_plugins.tcc.behavior import TCCBehaviorMethod

        return TCCBehaviorMethod(config, dims.get("A", 1), dims.get("K", num_keypoints or 1),
                                 dims.get("C", 2))  # fmt: skip
    from kpbench_plugins.tcc.method import TCCMethod

    return TCCMethod(config, joints=num_keypoints)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="tcc",
            tasks=("alignment", "behavior", "propagation"),
            frozen_tasks=("propagation",),  # its frame encoder, from a checkpoint
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="temporal cycle-consistency: per-frame embeddings aligning videos (CVPR 2019)",
            paper="Dwibedi, Aytar, Tompson, Sermanet, Zisserman, Temporal Cycle-Consistency "
            "Learning, CVPR 2019, arXiv:1904.07846",
            reference=REFERENCE,
        )
    ]
