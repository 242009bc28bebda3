"""Human3.6M joint layouts: the 32 mocap joints and the 17 VideoPose3D keeps.

The 32-joint parents, the left/right lists, the 15 joints removed and the shoulder rewiring
are those of VideoPose3D (``common/h36m_dataset.py``, ``Human36mDataset.remove_joints``); the
17-joint names are the usual Human3.6M ones (3d-pose-baseline's ``H36M_NAMES``, snake_case).
Removing a joint hands its children to its nearest kept ancestor; then both shoulders
(17-joint 11 and 14) are re-parented to the thorax (8), as the reference does.
"""

from __future__ import annotations

#: Parent of each of the 32 mocap joints (-1: the root, the pelvis).
PARENTS32 = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
    16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30,
)  # fmt: skip
LEFT32 = (6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23)
RIGHT32 = (1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31)
#: The mocap joints VideoPose3D drops (toes, hand ends, duplicates of the pelvis and thorax).
REMOVED32 = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)
#: The 32-joint index of each kept joint, in order: 17-joint ``i`` is mocap joint ``KEPT32[i]``.
KEPT32 = tuple(j for j in range(32) if j not in REMOVED32)

KEYPOINT_NAMES = (
    "hip", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot",
    "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip
ROOT = 0


def reduced_parents(parents=PARENTS32, removed=REMOVED32) -> tuple[int, ...]:
    """Parents after removing ``removed``: each kept joint's nearest kept ancestor, renumbered."""
    gone = set(removed)
    kept = [j for j in range(len(parents)) if j not in gone]
    new_index = {old: new for new, old in enumerate(kept)}
    out = []
    for j in kept:
        p = parents[j]
        while p in gone:
            p = parents[p]
        out.append(-1 if p < 0 else new_index[p])
    return tuple(out)


def _parents17() -> tuple[int, ...]:
    parents = list(reduced_parents())
    parents[11] = parents[14] = 8  # both shoulders hang from the thorax
    return tuple(parents)


#: Parent of each of the 17 joints (-1 for the root).
PARENTS = _parents17()
#: Skeleton edges (parent, child): the bones.
SKELETON = tuple((p, j) for j, p in enumerate(PARENTS) if p >= 0)
#: 17-joint left and right joints: VideoPose3D's ``keypoints_symmetry`` of the h36m layout.
LEFT = tuple(KEPT32.index(j) for j in LEFT32 if j in KEPT32)
RIGHT = tuple(KEPT32.index(j) for j in RIGHT32 if j in KEPT32)
#: Flip pairs ``(left, right)``: swapped by a horizontal flip.
FLIP_PAIRS = tuple(zip(LEFT, RIGHT))
