"""Video colorization as a tracker (Vondrick, Shrivastava, Fathi, Guadarrama, Murphy, ECCV 2018).

Paper: https://arxiv.org/abs/1806.09594 (no official code). A network sees grey frames
only and learns to colour a target frame by pointing at cells of three reference frames and
copying their colour cluster (16 k-means clusters of Lab ab); the pointer's embeddings are
the tracker. ``propagation``: the embeddings of the trained network under the shared
propagator (``docs/trackers.md``). The defaults are the paper's model and recipe.
"""

from __future__ import annotations

from kpbench import hookimpl
from kpbench.specs import MethodSpec

DEFAULTS = {
    # model (paper §3.3: ResNet-18 at stride 8 on grey 256² frames, positions, a five-layer
    # head to 64-d; the head is 2D here since the propagator encodes one frame at a time)
    "image_size": 256,
    "embedding_size": 64,
    "head_width": 256,
    "head_layers": 5,
    "coords": True,
    # objective
    "clusters": 16,  # k-means clusters of Lab ab
    "cluster_batches": 4,  # training batches whose ab values the k-means is fitted on
    "reference_frames": 3,  # four-frame clips: three references, the last frame the target
    "frame_gap": 4,  # the paper samples Kinetics at 6 fps: about every 4th frame of 25 fps
    "temperature": 1.0,  # softmax temperature of the pointer in training
    # optimisation
    "batch_size": 32,
    "lr": 1e-3,  # Adam
    "lr_halve_at": [],  # samples after which the rate halves (none in the paper)
    "steps": 400_000,
    "steps_per_epoch": 1000,
}

PRESETS = {
    "smoke": {
        "image_size": 32,
        "embedding_size": 8,
        "head_width": 8,
        "head_layers": 2,
        "cluster_batches": 1,
        "batch_size": 2,
        "steps": 2,
        "steps_per_epoch": 1,
    },
    "default": {
        "image_size": 64,
        "head_width": 64,
        "head_layers": 3,
        "batch_size": 8,
        "frame_gap": 2,
        "lr": 3e-4,
        "steps": 150,
        "steps_per_epoch": 50,
    },
    "paper": {},
}

#: The paper's network at the defaults; one 320 × 320 frame (the propagation protocol's
#: size) through the encoder. Derivation, layer by layer: tests/plugins/colorization.
REFERENCE = {
    "params": 5_158_912,
    "flops": 18_055_372_800,
    "flops_input": "one 320 × 320 RGB frame (the propagator's size; grey inside) through the "
    "encoder to 64 × 40 × 40 embeddings (torch.utils.flop_counter, 2 per multiply-add)",
}


def build(config: dict, num_keypoints: int | None = None, task=None, dims=None):
    from kpbench_plugins.colorization.method import ColorizationMethod

    return ColorizationMethod(config)


@hookimpl
def kpbench_methods():
    return [
        MethodSpec(
            name="colorization",
            tasks=("propagation",),
            build=build,
            defaults=DEFAULTS,
            presets=PRESETS,
            trains=True,
            description="tracking emerges by colorizing videos: a pointer copying colour "
            "clusters from reference frames (ECCV 2018)",
            paper="Vondrick, Shrivastava, Fathi, Guadarrama, Murphy, Tracking Emerges by "
            "Colorizing Videos, ECCV 2018, arXiv:1806.09594",
            reference=REFERENCE,
        )
    ]
