"""``lifting3d``: lifting 2D keypoint sequences to 3D poses (VideoPose3D).

**Data model.** A sample is one sequence seen by one camera (Human3.6M style): its 2D keypoints
(px, e.g. a detector's), its 3D keypoints in that camera's frame (mm), the camera, who
(``subject``) and what (``action``). A method gets everything except the 3D keypoints. For
every frame it predicts the 3D pose **relative to the root joint**: option ``root_joint``
(default 0, the pelvis in Human3.6M's 17 joints) sits at the origin. Coordinates are in the
camera frame, in mm. The global trajectory is not asked for. 2D and 3D keypoints share one
joint list (K joints, the same for every sequence).

**Protocol.** The ``test`` split's sequences are used whole and in the dataset's order:
up to ``max_sequences`` of them, spread evenly (all by default, as VideoPose3D scores every
frame of S9 and S11). The prediction concatenates the frames of all the sequences in input
order. Ground truth and prediction are both made root-relative before scoring: the
prediction's own root joint is subtracted, so the metrics compare the pose, never a global
position.

**Metrics** (the task's own, :mod:`kpbench.metrics.lifting3d`, defined as VideoPose3D's
``common/loss.py`` and ``run.py``): ``mpjpe`` (Protocol #1), ``p_mpjpe`` (#2, per-frame
similarity Procrustes with proper rotations only), ``n_mpjpe`` (#3, per-frame scale only), in
mm, and ``mpjve`` (frame differences within a sequence), in mm/frame. All are action-wise:
averaged over each action's frames, then over the actions, with a ``per_action`` breakdown.

**Baselines.** ``mean_pose`` predicts the ``train`` split's mean root-relative pose in every
frame. It needs train sequences. Without any it predicts the all-zero pose (every joint at
the root), and the selection records where the pose came from (``mean_pose_from``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kpbench import hookimpl
from kpbench.errors import ConfigError
from kpbench.evaluation import EvalSet
from kpbench.metrics import lifting3d as lm
from kpbench.schema import Field, Schema
from kpbench.specs import MetricSpec, TaskSpec
from kpbench.tasks.common import evenly

NAME = "lifting3d"

CAMERA = Schema(
    f"{NAME} camera",
    (
        Field("intrinsics", "f", (3, 3), "px", "pinhole matrix: focal lengths, principal point"),
        Field("R", "f", (3, 3), "", "world → camera rotation (X_cam = R X_world + t)"),
        Field("t", "f", (3,), "mm", "world → camera translation"),
        Field("size", "any", doc="(W, H) px of the camera's frames"),
    ),
)
_ABOUT = (
    Field("name", "str", doc="the sequence's unique name, e.g. 'S9/Walking.54138969'"),
    Field("subject", "str", doc="who, e.g. 'S9'"),
    Field("action", "str", doc="what, e.g. 'Walking' (metrics average per action)"),
)
_KP2D = Field("keypoints2d", "f", ("T", "K", 2), "px", "2D keypoints (x, y) in every frame")
_CAM = Field("camera", "mapping", doc="{'intrinsics' (3, 3) px, 'R' (3, 3), 't' (3,) mm, "
             "'size' (W, H) px}: world → camera, X_cam = R X_world + t")  # fmt: skip
_FPS = Field("fps", "float", unit="Hz", doc="frames per second")

SAMPLE = Schema(
    f"{NAME} sample",
    (
        *_ABOUT,
        _KP2D,
        Field("keypoints3d", "f", ("T", "K", 3), "mm", "3D keypoints (x, y, z), camera frame"),
        _CAM,
        _FPS,
    ),
)
INPUTS = Schema(f"{NAME} input", (*_ABOUT, _KP2D, _CAM, _FPS))
PREDICTION = Schema(
    f"{NAME} prediction",
    (
        Field("keypoints3d", "f", ("F", "K", 3), "mm",
              "root-relative 3D keypoints in the camera frame, the frames of every input "
              "sequence concatenated in input order (F = sum of T)"),
    ),
)  # fmt: skip

#: Ground-truth keys of a sample; never in an input.
TRUTH_KEYS = ("keypoints3d",)


def _validated(seqs, split: str, dims: dict | None = None) -> list[dict]:
    """Check every sequence and its camera; all share one K (and ``dims``)."""
    seqs, dims = list(seqs), dict(dims or {})
    for i, s in enumerate(seqs):
        name = s.get("name") if isinstance(s, Mapping) else None
        src = f"{split} sequence {name!r}" if name else f"{split} sequence #{i}"
        dims = {"K": SAMPLE.validate(s, src, dims)["K"]}
        CAMERA.validate(s["camera"], src)
    return seqs


def samples(data, split: str) -> list[dict]:
    """The sequences ``data.sequences3d(split)``, each checked against :data:`SAMPLE`.

    Raises:
        kpbench.schema.SchemaError: a sequence (or its camera) does not match, or the
            sequences have different numbers of joints.
    """
    return _validated(data.sequences3d(split), split)


def _root_relative(kp3d: np.ndarray, root: int) -> np.ndarray:
    kp = np.asarray(kp3d, np.float64)
    return kp - kp[:, root : root + 1]


def _evalset(seqs: list[dict], mean_pose: np.ndarray, root: int, info: dict) -> EvalSet:
    lengths = np.array([len(s["keypoints3d"]) for s in seqs], np.int64)
    truth = {
        "keypoints3d": np.concatenate([_root_relative(s["keypoints3d"], root) for s in seqs]),
        "actions": np.repeat(np.array([s["action"] for s in seqs]), lengths),
        "lengths": lengths,
        "fps": np.array([float(s["fps"]) for s in seqs]),
        "root_joint": root,
        "mean_pose": np.asarray(mean_pose, np.float64),
    }
    return EvalSet(
        inputs=[{key: s[key] for key in INPUTS.field_names()} for s in seqs],
        truth=truth,
        ids=[f"{s['name']} ({n} frames)" for s, n in zip(seqs, lengths)],
        dims={"F": int(lengths.sum()), "K": int(truth["keypoints3d"].shape[1])},
        info={**info, "sequences": len(seqs), "frames": int(lengths.sum())},
    )


def select(data, options: dict) -> EvalSet:
    """Whole ``test`` sequences (at most ``max_sequences``, spread evenly) in dataset order.

    The truth holds the root-relative 3D keypoints (F, K, 3) mm, per-frame actions, the
    sequence lengths and fps, and the ``train`` split's mean root-relative pose (K, 3) mm
    for the ``mean_pose`` baseline (zeros when the train split has no sequence).

    Raises:
        kpbench.schema.SchemaError: a sequence does not match :data:`SAMPLE`.
        kpbench.errors.ConfigError: ``root_joint`` is not a joint of the sequences.
    """
    root = int(options["root_joint"])
    test = evenly(samples(data, "test"), options["max_sequences"])
    if not test:
        return EvalSet(
            [], info={"sequences": 0},
            unavailable=f"dataset {data.name!r} has no test-split sequences: "
            "lifting3d metrics skipped",
        )  # fmt: skip
    k = test[0]["keypoints3d"].shape[1]
    if not 0 <= root < k:
        raise ConfigError(f"--set task.root_joint={root}: the sequences have {k} joints")
    train = _validated(data.sequences3d("train"), "train", {"K": k})
    if train:
        mean = np.concatenate([_root_relative(s["keypoints3d"], root) for s in train]).mean(0)
    else:
        mean = np.zeros((k, 3))
    info = {
        "train_sequences": len(train),
        "mean_pose_from": "train" if train else "zeros (no train sequences)",
    }
    return _evalset(test, mean, root, info)


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The lifting record: root-relative poses side by side, frames in input order.

    Returns:
        ``predicted`` (F, K, 3) mm: the prediction minus its own root joint; ``target``
        (F, K, 3) mm: the root-relative ground truth; ``actions`` (F,) str: each frame's
        action; ``lengths`` (S,) int: frames per sequence (frame differences for MPJVE stay
        within one sequence); ``fps`` (S,) Hz; ``root_joint`` int.
    """
    t = evalset.truth
    root = t["root_joint"]
    return {
        "predicted": _root_relative(prediction["keypoints3d"], root),
        "target": t["keypoints3d"],
        "actions": t["actions"],
        "lengths": t["lengths"],
        "fps": t["fps"],
        "root_joint": root,
    }


def baseline_mean_pose(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """The train split's mean root-relative pose in every frame (zeros without train data)."""
    mean = evalset.truth["mean_pose"]
    return {"keypoints3d": np.broadcast_to(mean, (evalset.dims["F"], *mean.shape)).copy()}


def smoke(seed: int = 0) -> EvalSet:
    """Three short sequences (2 actions) of a jittering 5-joint figure 3 m before a camera."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 200.0, (5, 3))
    base -= base[0]
    cam = {
        "intrinsics": np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]),
        "R": np.eye(3),
        "t": np.zeros(3),
        "size": (640, 480),
    }
    seqs = []
    for i, (action, n) in enumerate([("walk", 12), ("sit", 9), ("walk", 7)]):
        pose = base + rng.normal(0.0, 20.0, (n, 5, 3)) + [0.0, 0.0, 3000.0]
        uvw = pose @ cam["intrinsics"].T
        seqs.append({
            "name": f"smoke/{action}.{i}", "subject": "S0", "action": action,
            "keypoints2d": uvw[..., :2] / uvw[..., 2:], "keypoints3d": pose,
            "camera": cam, "fps": 50.0,
        })  # fmt: skip
    return _evalset(seqs, base, 0, {"train_sequences": 0, "mean_pose_from": "smoke figure"})


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="lift 2D keypoint sequences to root-relative 3D poses (mm, camera frame)",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="frame of a sequence",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={"mean_pose": baseline_mean_pose},
            options={"max_sequences": None, "root_joint": 0},
            presets={
                "smoke": {"max_sequences": 4},
                "default": {"max_sequences": 60},
                "paper": {},
            },
            smoke=smoke,
            protocol=(
                "whole test-split sequences (up to {max_sequences}, spread evenly; None = all), "
                "every frame; 3D poses relative to joint {root_joint} (the prediction's own root "
                "subtracted), camera frame, mm; errors averaged per action, then over actions"
            ),
        )
    ]


_ACTION_WISE = "averaged over each action's frames, then over the actions (VideoPose3D)"


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(
            name="mpjpe",
            task=NAME,
            fn=lm.mpjpe,
            unit="mm",
            higher_is_better=False,
            description="MPJPE (Protocol #1): mean L2 over joints of the root-relative poses, mm; "
            + _ACTION_WISE,
        ),
        MetricSpec(
            name="p_mpjpe",
            task=NAME,
            fn=lm.p_mpjpe,
            unit="mm",
            higher_is_better=False,
            description="P-MPJPE (Protocol #2): MPJPE after per-frame similarity Procrustes "
            "(scale, proper rotation, translation; reflections not undone), mm; " + _ACTION_WISE,
        ),
        MetricSpec(
            name="n_mpjpe",
            task=NAME,
            fn=lm.n_mpjpe,
            unit="mm",
            higher_is_better=False,
            description="N-MPJPE (Protocol #3): MPJPE after a per-frame least-squares scale of "
            "the prediction, mm; " + _ACTION_WISE,
        ),
        MetricSpec(
            name="mpjve",
            task=NAME,
            fn=lm.mpjve,
            unit="mm/frame",
            higher_is_better=False,
            description="MPJVE: mean L2 over joints of the error of frame-to-frame differences "
            "within each sequence, mm/frame; sequences weighted by their frames, " + _ACTION_WISE,
        ),
    ]
