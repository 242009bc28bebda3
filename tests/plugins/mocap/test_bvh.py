"""The BVH reader and forward kinematics on a tiny hand-written file, and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.errors import DataError
from kpbench_plugins.mocap.bvh import axis_rotation, forward_kinematics, parse_bvh, read_bvh

# Root: 6 channels, rotations Z Y X; Arm: rotations in the order Z X Y (as CMU's shoulders and
# arms), OFFSET (1, 0, 0); its End Site 2 units along the Arm's y axis.
TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.5
0 0 0 0 0 0 0 0 0
1 2 3 90 0 0 0 0 0
0 0 0 90 0 90 90 90 0
"""
# Hand-computed, with Rz(90): (x, y, z) -> (-y, x, z) and Rx(90): (x, y, z) -> (x, -z, y):
# frame 0: rest pose.
# frame 1: root at (1, 2, 3) turned Rz(90): Arm = (1,2,3) + Rz(1,0,0) = (1, 3, 3);
#          End = Arm + Rz(0,2,0) = (1,3,3) + (-2,0,0) = (-1, 3, 3).
# frame 2: root R = Rz(90)·Rx(90) (channel order Z Y X); Arm R = Rz(90)·Rx(90) (order Z X Y):
#          Arm = Rz·Rx(1,0,0) = Rz(1,0,0) = (0, 1, 0);
#          End = Arm + Rz·Rx·Rz·Rx(0,2,0) = Arm + Rz·Rx·Rz(0,0,2) = Arm + Rz·Rx(0,0,2)
#              = Arm + Rz(0,-2,0) = (0,1,0) + (2,0,0) = (2, 1, 0).
#          (Composed the other way round, Rx·Rz, the Arm would be at (0, 0, 1).)
EXPECTED = np.array(
    [
        [[0, 0, 0], [1, 0, 0], [1, 2, 0]],
        [[1, 2, 3], [1, 3, 3], [-1, 3, 3]],
        [[0, 0, 0], [0, 1, 0], [2, 1, 0]],
    ],
    float,
)


def test_parse_tiny_hierarchy_and_motion():
    take = parse_bvh(TINY, "tiny.bvh")
    assert take.names == ["Hips", "Arm", "Arm_End"] and take.parents == [-1, 0, 1]
    assert take.joint_names == ["Hips", "Arm"]
    assert take.channels[1] == ("Zrotation", "Xrotation", "Yrotation") and take.channels[2] == ()
    np.testing.assert_array_equal(take.offsets, [[0, 0, 0], [1, 0, 0], [0, 2, 0]])
    assert take.num_frames == 3 and take.frame_time == 0.5 and take.values.shape == (3, 9)


def test_forward_kinematics_matches_hand_computed_positions():
    positions = forward_kinematics(parse_bvh(TINY, "tiny.bvh"))
    np.testing.assert_allclose(positions, EXPECTED, atol=1e-12)


def test_axis_rotations_are_right_handed():
    np.testing.assert_allclose(axis_rotation("Z", 90.0) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(axis_rotation("X", 90.0) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(axis_rotation("Y", 90.0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    r = axis_rotation("Y", np.array([10.0, 20.0]))
    assert r.shape == (2, 3, 3)
    np.testing.assert_allclose(
        r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape), atol=1e-12
    )


def test_tokens_may_be_spread_over_lines_and_indentation_is_ignored():
    squashed = TINY.replace("  OFFSET 1 0 0\n", "OFFSET 1\n 0 0\n").replace("\n  ", "\n\t\t")
    np.testing.assert_allclose(forward_kinematics(parse_bvh(squashed)), EXPECTED, atol=1e-12)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("1 2 3 90 0 0 0 0 0", "1 2 3 90 x 0 0 0 0", 20, "not a number"),
        ("1 2 3 90 0 0 0 0 0", "1 2 3 90 0 0 0 0", 20, "8 values on a frame line"),
        ("Zrotation Xrotation Yrotation", "Zrotation Wrotation Yrotation", 9, "bad CHANNELS"),
        ("OFFSET 1 0 0", "OFFSET 1 zero 0", 8, "expected a number"),
        ("Frames: 3", "Frames: three", 17, "bad Frames"),
        ("Frame Time: 0.5", "Frame Time: -1", 18, "Frame Time > 0"),
        ("0 0 0 90 0 90 90 90 0\n", "0 0 0 90 0 90 90 90 0\n0 0 0 0 0 0 0 0 0\n", 22, "more frame"),
        ("OFFSET 0 2 0\n", "OFFSET 0 2 0\n JOINT X\n", 13, "End Site Arm_End cannot have"),
        ("  JOINT Arm", "  JOINTS Arm", 6, "expected JOINT, End Site or '}'"),
    ],
)  # fmt: skip
def test_malformed_bvh_is_one_line_with_file_and_line(old, new, line, message):
    text = TINY.replace(old, new, 1)
    assert text != TINY
    with pytest.raises(DataError) as info:
        parse_bvh(text, "bad.bvh")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"bad.bvh: line {line}: ") and message in msg, msg


def test_truncated_files_are_one_line_errors(tmp_path):
    cut = TINY[: TINY.index("0 0 0 90 0 90")]
    with pytest.raises(DataError, match=r"only 2 frame lines"):
        parse_bvh(cut, "cut.bvh")
    with pytest.raises(DataError, match=r"no MOTION section"):
        parse_bvh(TINY[: TINY.index("MOTION")], "cut.bvh")
    path = tmp_path / "binary.bvh"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match=r"binary.bvh: cannot read"):
        read_bvh(path)
