"""Tasks and the sample / prediction schemas every dataset, method and metric speaks.

Written once, here. Conventions for every array below:

* 2D coordinates are **pixels** of the original frame, ``x`` to the right, ``y`` down, with
  shape ``(..., K, 2)`` and the last axis ordered ``(x, y)``.
* 3D coordinates are millimetres in the camera frame unless a dataset says otherwise,
  shape ``(..., K, 3)``.
* ``NaN`` in a coordinate means "not labelled" (never a zero, never a sentinel value).
* Images are ``(H, W, 3)`` ``uint8`` RGB numpy arrays.
"""

from __future__ import annotations

from enum import Enum
from typing import TypedDict

import numpy as np


class Task(str, Enum):
    """What a dataset can serve, what a method solves, and what a metric scores."""

    DISCOVERY2D = "discovery2d"
    POSE2D = "pose2d"
    LIFTING3D = "lifting3d"
    MULTIVIEW3D = "multiview3d"
    ALIGNMENT = "alignment"
    BEHAVIOR = "behavior"
    PROPAGATION = "propagation"

    def __str__(self) -> str:
        return self.value


#: One line per task: what a sample gives the method, and what the method predicts.
TASK_DOCS: dict[str, tuple[str, str]] = {
    "discovery2d": (
        "unlabelled frame pairs (t, t+T) from videos; labelled frames for evaluation only",
        "K 2D keypoints per frame (px), with confidence and covariance",
    ),
    "pose2d": (
        "image + annotated 2D keypoints (+ visibility, bbox)",
        "2D keypoints (px) + confidence",
    ),
    "lifting3d": ("2D keypoint sequences (+ camera)", "3D keypoints per frame (mm)"),
    "multiview3d": ("image pairs of one object + relative pose", "K 3D keypoints per image"),
    "alignment": ("sets of videos/sequences of one action", "per-frame embeddings"),
    "behavior": ("keypoint sequences + per-frame labels", "per-frame class scores"),
    "propagation": ("a video + the first frame's keypoints", "keypoints in every later frame"),
}


def check_task(name: str) -> str:
    """Return ``name`` if it is a known task, else raise ``ValueError`` listing the tasks."""
    known = [t.value for t in Task]
    if name not in known:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(known)}")
    return name


class LabeledFrameSample(TypedDict):
    """One annotated frame (``pose2d`` sample; ``discovery2d`` evaluation frame).

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(K, 2)`` float32 px ``(x, y)``; NaN where not labelled.
        source: where the frame came from, e.g. ``"clip.mp4#12"`` or an image path.
    """

    image: np.ndarray
    keypoints: np.ndarray
    source: str


class FramePairSample(TypedDict):
    """A ``discovery2d`` training sample: two frames of one video, ``gap`` frames apart.

    Attributes:
        frame_t: ``(H, W, 3)`` uint8 RGB, frame ``t``.
        frame_tT: ``(H, W, 3)`` uint8 RGB, frame ``t + gap``.
        video: the video's name.
        t: index of ``frame_t`` in the video (frames).
        gap: ``T``, in frames.
    """

    frame_t: np.ndarray
    frame_tT: np.ndarray
    video: str
    t: int
    gap: int


class DiscoveryPrediction(TypedDict):
    """What a ``discovery2d`` method predicts for a set of frames.

    Attributes:
        keypoints: ``(N, K, 2)`` float px ``(x, y)`` in the original frame.
        confidence: ``(N, K)`` in [0, 1].
        covariance: ``(N, K, 3)`` px² as ``(var_x, var_y, cov_xy)``.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    covariance: np.ndarray


class DiscoveryEvaluation(TypedDict):
    """What ``discovery2d`` metrics score: discovered and annotated keypoints on two frame sets.

    The regression (discovered → annotated) is fitted on the ``fit_*`` frames and scored on
    the ``test_*`` frames, which must be disjoint.

    Attributes:
        fit_discovered: ``(N1, K, 2)`` px.
        fit_annotated: ``(N1, J, 2)`` px, NaN where not labelled.
        test_discovered: ``(N2, K, 2)`` px.
        test_annotated: ``(N2, J, 2)`` px, NaN where not labelled.
        image_size: ``(W, H)`` px of the frames the coordinates live in.
    """

    fit_discovered: np.ndarray
    fit_annotated: np.ndarray
    test_discovered: np.ndarray
    test_annotated: np.ndarray
    image_size: tuple[int, int]


class BehaviorSequence(TypedDict):
    """A ``behavior`` sample: one video's keypoints and per-frame labels.

    Attributes:
        name: sequence id.
        keypoints: ``(T, A, K, 2)`` float px, A animals.
        scores: ``(T, A, K)`` tracker confidences (NaN if the source has none).
        labels: ``(T,)`` int class index per frame, or None for unlabelled sequences.
        vocab: class name → index, read from the data (never hard-coded).
        fps: frames per second.
    """

    name: str
    keypoints: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None
    vocab: dict[str, int]
    fps: float
