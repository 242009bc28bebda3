"""KeypointNet (Suwajanakorn, Snavely, Tompson, Norouzi, NeurIPS 2018): latent 3D keypoints.

Not to be confused with KeypointNet the dataset (You et al., CVPR 2020, ShapeNet keypoint
annotations): this is the method that *discovers* K 3D keypoints per image from view pairs
with known relative pose and no keypoint labels. Paper: https://arxiv.org/abs/1807.03146,
https://keypointnet.github.io; reference code: tensorflow/models ``research/keypointnet``
(TF1). Serves ``multiview3d``. The defaults are the paper's model (K = 10, 128×128, 64
filters) and recipe (``kpbench info keypointnet``); docs/keypointnet.md says what differs
from the reference and why.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (main.py: _default_hparams, dilated_cnn, keypoint_network)
    "num_keypoints": 10,
    "num_filters": 64,  # OrientNet uses half
    "dilations": [1, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1],
    "image_size": 128,
    "depth_bias": 30.0,  # the renders' camera distance; None: the training views' mean distance
    "orient_axis": [1.0, 0.0, 0.0],  # object-space axis whose projected ends OrientNet finds
    "bn_momentum": 0.001,  # slim batch_norm decay 0.999
    # losses (weights and constants of _default_hparams)
    "loss_consistency": 1.0,
    "loss_pose": 0.2,
    "loss_separation": 1.0,
    "loss_silhouette": 1.0,
    "loss_variance": 0.5,
    "loss_orientation": 1.0,
    "sep_delta": 0.05,  # on the squared distance
    "noise": 0.1,  # added to the keypoints in the pose term (training only)
    # optimisation (main.py flags, utils.py)
    "lr": 1e-3,
    "clip_norm": 5.0,
    "batch_size": 256,  # the paper's 32 replicas × 8 (the flag's default is 8 per replica)
    "steps": 200_000,
    "steps_per_epoch": 1000,  # logging and checkpoints only
    "lr_anneal_start": 30_000,
    "lr_anneal_end": 60_000,
    "max_train_pairs": None,  # None: every training pair (held in memory at image_size)
    "predict_batch_size": 16,
    "timing_batch_size": 8,
}

PRESETS = {
    "smoke": {
        "num_filters": 8,
        "dilations": [1, 2, 1],
        "image_size": 16,
        "batch_size": 2,
        "steps": 2,
        "steps_per_epoch": 1,
        "lr_anneal_start": 1,
        "lr_anneal_end": 2,
        "bn_momentum": 0.1,
        "max_train_pairs": 8,
        "timing_batch_size": 2,
    },
    "default": {
        "num_filters": 16,
        "dilations": [1, 1, 2, 4, 8, 1, 2, 4, 8, 1],
        "image_size": 48,
        "batch_size": 16,
        "steps": 1200,
        "steps_per_epoch": 100,
        "lr_anneal_start": 300,
        "lr_anneal_end": 600,
        "bn_momentum": 0.05,
        "max_train_pairs": 4000,
        "timing_batch_size": 8,
    },
    "paper": {},  # the defaults are the paper's configuration
}

#: Figures of the paper's model (K = 10, 128×128, 64 filters), derived layer by layer in
#: tests/plugins/keypointnet/test_reference.py from the reference architecture.
REFERENCE = {
    "params": 523_318,
    "flops": 34_219_229_184,
    "flops_input": "one view pair: both 128×128 RGB views through OrientNet and KeypointNet "
    "(torch.utils.flop_counter, 2 per multiply-add; the softmax expectations are element-wise "
    "and not counted)",
    "params_orientnet": 103_202,
    "params_keypointnet": 420_116,
    "paper_mean_angular_error_deg": {"car": 11.31, "airplane": 17.33, "chair": 14.57},
}


def build(config: dict, num_keypoints: int | None = None, task=None, dims=None):
    """KeypointNet with the config's K (the task fixes none: keypoints are discovered)."""
    from kpbench_plugins.keypointnet.method import KeypointNetMethod

    return KeypointNetMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="keypointnet",
            tasks=("multiview3d",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            description="KeypointNet, the method (NeurIPS 2018; not the CVPR'20 dataset): latent "
            "3D keypoints from view pairs, end-to-end relative-pose and multi-view losses",
            paper="Suwajanakorn, Snavely, Tompson, Norouzi, Discovery of latent 3D keypoints via "
            "end-to-end geometric reasoning, NeurIPS 2018, arXiv:1807.03146",
            reference=REFERENCE,
        )
    ]
