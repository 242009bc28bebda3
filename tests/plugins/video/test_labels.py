"""Label readers on small files written in each official format, and their malformed variants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpbench.errors import DataError
from kpbench_plugins.video import dlc
from kpbench_plugins.video import labels as lab

PARTS = ["snout", "tail"]
VALUES = np.array(
    [[10.0, 20.0, 30.0, 40.0], [11.0, np.nan, 31.0, 41.0], [12.0, 22.0, np.nan, np.nan]]
)
#: VALUES as read: (N, K, 2) float32, a point with one NaN coordinate is no point (both NaN)
POINTS = VALUES.reshape(3, 2, 2).astype(np.float32)
POINTS[1, 0] = np.nan


def dlc_frame(index, parts=PARTS, values=VALUES, individuals=None) -> pd.DataFrame:
    if individuals:
        cols = pd.MultiIndex.from_product(
            [["me"], individuals, parts, ["x", "y"]], names=list(dlc.DLC_LEVELS)
        )
    else:
        cols = pd.MultiIndex.from_product(
            [["me"], parts, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
        )
    return pd.DataFrame(values, index=index, columns=cols)


def dlc_project(
    root: Path,
    write_image,
    config: str | None = "bodyparts: [snout, tail]\nskeleton: [[snout, tail]]\n",
) -> Path:
    folder = root / "labeled-data" / "v1"
    for i in range(3):
        write_image(folder / f"img{i}.png", size=(40, 30))
    if config is not None:
        (root / "config.yaml").write_text(config)
    return folder


STRING_INDEX = [f"labeled-data/v1/img{i}.png" for i in range(3)]
TUPLE_INDEX = pd.MultiIndex.from_tuples([("labeled-data", "v1", f"img{i}.png") for i in range(3)])


# -- DeepLabCut ------------------------------------------------------------------------------------
def test_dlc_csv_three_headers_with_nan(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image)
    dlc_frame(STRING_INDEX).to_csv(folder / "CollectedData_me.csv")
    images, names, kp = dlc.read_dlc_table(folder / "CollectedData_me.csv")
    assert images == STRING_INDEX and names == PARTS
    np.testing.assert_array_equal(kp, POINTS)
    assert np.isnan(kp[1, 0, 1]) and np.isnan(kp[2, 1]).all()

    [st] = dlc.read_dlc_project(tmp_path)
    assert st.names == PARTS and st.skeleton == [(0, 1)] and st.sizes == [(40, 30)] * 3
    assert [p.name for p in st.images] == ["img0.png", "img1.png", "img2.png"] and st.skipped == []


@pytest.mark.parametrize("index", [STRING_INDEX, TUPLE_INDEX], ids=["string-paths", "multiindex"])
def test_dlc_h5_both_index_styles(tmp_path, write_image, index):
    folder = dlc_project(tmp_path, write_image)
    dlc_frame(index).to_hdf(folder / "CollectedData_me.h5", key="df_with_missing", mode="w")
    images, names, kp = dlc.read_dlc_table(folder / "CollectedData_me.h5")
    assert images == STRING_INDEX and names == PARTS
    np.testing.assert_array_equal(kp, POINTS)
    assert [p.name for p in dlc.read_dlc_project(tmp_path)[0].images] == [
        "img0.png",
        "img1.png",
        "img2.png",
    ]


def test_dlc_csv_with_multiindex_rows(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image)
    dlc_frame(TUPLE_INDEX).to_csv(folder / "CollectedData_me.csv")
    images, _, kp = dlc.read_dlc_table(folder / "CollectedData_me.csv")
    assert images == STRING_INDEX
    np.testing.assert_array_equal(kp, POINTS)


def test_dlc_prefers_h5_and_orders_by_config(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image, config="bodyparts: [tail, nose, snout]\n")
    dlc_frame(STRING_INDEX).to_hdf(folder / "CollectedData_me.h5", key="df_with_missing", mode="w")
    dlc_frame(STRING_INDEX, values=VALUES + 100).to_csv(folder / "CollectedData_me.csv")
    [st] = dlc.read_dlc_project(tmp_path)
    assert st.label_file.suffix == ".h5" and st.names == ["tail", "nose", "snout"]
    np.testing.assert_array_equal(st.keypoints[0], [[30, 40], [np.nan, np.nan], [10, 20]])


def test_dlc_multi_animal(tmp_path, write_image):
    config = "multianimalproject: true\nindividuals: [m1, m2]\nmultianimalbodyparts: [snout, tail]\nuniquebodyparts: []\nskeleton: [[snout, tail]]\n"
    folder = dlc_project(tmp_path, write_image, config=config)
    values = np.arange(24, dtype=float).reshape(3, 8)
    dlc_frame(STRING_INDEX, values=values, individuals=["m1", "m2"]).to_csv(
        folder / "CollectedData_me.csv"
    )
    [st] = dlc.read_dlc_project(tmp_path)
    assert st.names == ["m1_snout", "m1_tail", "m2_snout", "m2_tail"] and st.skeleton == [
        (0, 1),
        (2, 3),
    ]
    np.testing.assert_array_equal(st.keypoints, values.reshape(3, 4, 2))
    assert (st.animals, st.nodes) == (["m1", "m2"], ["snout", "tail"])


def test_dlc_multi_animal_table_without_config_orders_animals_then_unique_parts(
    tmp_path, write_image
):
    folder = dlc_project(tmp_path, write_image, config=None)
    keys = [("single", "corner"), ("m1", "snout"), ("m1", "tail"), ("m2", "snout")]
    cols = pd.MultiIndex.from_tuples(
        [("me", i, p, c) for i, p in keys for c in ("x", "y")], names=list(dlc.DLC_LEVELS)
    )
    values = np.arange(24, dtype=float).reshape(3, 8)
    pd.DataFrame(values, index=STRING_INDEX, columns=cols).to_csv(folder / "CollectedData_me.csv")
    [st] = dlc.read_dlc_project(tmp_path)
    assert (st.animals, st.nodes) == (["m1", "m2"], ["snout", "tail"])
    assert st.names == ["m1_snout", "m1_tail", "m2_snout", "m2_tail", "single_corner"]
    kp = values.reshape(3, 4, 2)
    np.testing.assert_array_equal(st.keypoints[:, [0, 1, 2, 4]], kp[:, [1, 2, 3, 0]])
    assert np.isnan(st.keypoints[:, 3]).all()  # m2 has no tail column: NaN


def test_dlc_single_animal_has_no_animals(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image)
    dlc_frame(STRING_INDEX).to_csv(folder / "CollectedData_me.csv")
    [st] = dlc.read_dlc_project(tmp_path)
    assert st.animals is None and st.names == PARTS
    assert st.row("boxes", 0) is None and st.row("image_ids", 2) is None


def test_dlc_missing_image_is_reported(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image)
    (folder / "img1.png").unlink()
    dlc_frame(STRING_INDEX).to_csv(folder / "CollectedData_me.csv")
    [st] = dlc.read_dlc_project(tmp_path)
    assert len(st.images) == 2 and len(st.keypoints) == 2
    assert [(p.name, why) for p, why in st.skipped] == [
        ("img1.png", "listed in CollectedData_me.csv but not found")
    ]
    np.testing.assert_array_equal(st.keypoints[1], VALUES[2].reshape(2, 2))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("frame,x,y\n0,1,2\n", "first header row must start with 'scorer'"),
        ("scorer,me,me\nbodyparts,snout,snout\ncoords,x,z\nimg.png,1,2\n", "'x' and 'y'"),
        ("scorer,me,me\ncoords,x,y\nimg.png,1,2\n", "expected 3 header levels"),
        ("scorer,me,me\nbodyparts,snout,snout\ncoords,x,y\nimg.png,1,abc\n", "non-numeric"),
    ],
)
def test_dlc_malformed_csv(tmp_path, content, problem):
    path = tmp_path / "CollectedData_me.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=problem) as err:
        dlc.read_dlc_table(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_dlc_malformed_h5_and_config(tmp_path, write_image):
    bad = tmp_path / "CollectedData_me.h5"
    bad.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(DataError, match="CollectedData_me.h5"):
        dlc.read_dlc_table(bad)
    (tmp_path / "config.yaml").write_text("bodyparts: snout\n")
    with pytest.raises(DataError, match=r"config.yaml: 'bodyparts' must be a non-empty list"):
        dlc.read_dlc_config(tmp_path / "config.yaml")


def test_dlc_bodypart_not_in_config(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image, config="bodyparts: [snout]\n")
    dlc_frame(STRING_INDEX).to_csv(folder / "CollectedData_me.csv")
    with pytest.raises(
        DataError, match=r"CollectedData_me.csv: bodypart 'tail' is not among .*config.yaml"
    ):
        dlc.read_dlc_project(tmp_path)


# -- COCO ------------------------------------------------------------------------------------------
def coco_doc(k: int = 3) -> dict:
    """Two images, four persons (one with 0 keypoints), ``k`` keypoint names."""
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.jpg", "width": 50, "height": 20},
        ],
        "annotations": [
            {
                "id": 11,
                "image_id": 2,
                "category_id": 1,
                "num_keypoints": 2,
                "keypoints": [1, 2, 2, 0, 0, 0, 5, 6, 1],
                "bbox": [0.5, 1.5, 6.0, 5.5],
                "area": 20.25,
                "iscrowd": 0,
            },
            {
                "id": 10,
                "image_id": 1,
                "category_id": 1,
                "num_keypoints": 3,
                "keypoints": [7, 8, 2, 9, 10, 2, 11, 12, 2],
            },
            {"id": 12, "image_id": 1, "category_id": 1, "num_keypoints": 0, "keypoints": [0] * 9},
            {
                "id": 14,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "num_keypoints": 1,
                "keypoints": [7, 8, 2, 0, 0, 0, 0, 0, 0],
            },
            {
                "id": 13,
                "image_id": 2,
                "category_id": 1,
                "num_keypoints": 1,
                "keypoints": [3, 4, 2, 0, 0, 0, 0, 0, 0],
            },
        ],
        "categories": [
            {
                "id": 1,
                "name": "person",
                "keypoints": ["nose", "eye", "ear"][:k],
                "skeleton": [[1, 2], [2, 3]],
            }
        ],
    }


@pytest.mark.parametrize("image_dir", ["val2017", "annotations/images", "annotations"])
def test_coco_keypoints(tmp_path, write_image, image_dir):
    (tmp_path / "annotations").mkdir()
    for name in ("a.jpg", "b.jpg"):
        write_image(tmp_path / image_dir / name)
    path = tmp_path / "annotations" / "person_keypoints_x.json"
    path.write_text(json.dumps(coco_doc()))
    st = lab.read_coco(path)
    assert st.names == ["nose", "eye", "ear"] and st.skeleton == [(0, 1), (1, 2)]
    assert st.ids == [10, 11, 13]  # sorted by image, the 0-keypoint person left out
    assert [p.name for p in st.images] == ["a.jpg", "b.jpg", "b.jpg"] and st.sizes == [
        (40, 30),
        (50, 20),
        (50, 20),
    ]
    np.testing.assert_array_equal(st.keypoints[1], [[1, 2], [np.nan, np.nan], [5, 6]])
    assert np.isnan(st.keypoints[2, 1:]).all()
    # COCO's own data: visibility (v=1 kept as 1), bbox, area, image id; None where absent
    assert [v.tolist() for v in st.visibility] == [[2, 2, 2], [2, 0, 1], [2, 0, 0]]
    np.testing.assert_array_equal(st.boxes[1], [0.5, 1.5, 6.0, 5.5])
    assert st.boxes[0] is None and st.areas == [None, 20.25, None] and st.image_ids == [1, 2, 2]
    assert st.ignored == [
        "annotation 14 (image_id 1) is a crowd region (iscrowd=1): "
        "COCO's evaluation ignores crowd regions"
    ]


def test_coco_malformed_bbox(tmp_path, write_image):
    write_image(tmp_path / "a.jpg")
    doc = coco_doc()
    doc["annotations"][1]["bbox"] = [1, 2, "x"]
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotation 10 has a malformed 'bbox'"):
        lab.read_coco(path)


def test_coco_missing_image_is_reported(tmp_path, write_image):
    write_image(tmp_path / "a.jpg")
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(coco_doc()))
    st = lab.read_coco(path)
    assert (
        st.ids == [10]
        and [(p.name, why) for p, why in st.skipped]
        == [("b.jpg", "listed in person_keypoints.json but not found")] * 2
    )


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"images": []}), "not a COCO keypoints file"),
        (
            json.dumps({**coco_doc(), "categories": [{"id": 1, "keypoints": ["nose", "eye"]}]}),
            "annotation 10 has 9 keypoint numbers, expected 6",
        ),
        (
            json.dumps({**coco_doc(), "categories": coco_doc(2)["categories"]}),
            "skeleton edge names a keypoint outside 1..2",
        ),
        (
            json.dumps({**coco_doc(), "images": [coco_doc()["images"][0]]}),
            "annotation 11 refers to image_id 2",
        ),
    ],
)
def test_coco_malformed(tmp_path, doc, problem):
    path = tmp_path / "person_keypoints.json"
    path.write_text(doc)
    with pytest.raises(DataError, match=problem) as err:
        lab.read_coco(path)
    assert str(path) in str(err.value)


# -- per-frame phases ------------------------------------------------------------------------------
def test_phases_csv(tmp_path):
    path = tmp_path / "clip.phases.csv"
    path.write_text("frame,phase\n0,reach\n1,reach\n3,grasp\n4,\n")
    assert lab.sniff_csv(path) == "phases"
    frames, names = lab.read_phases(path)
    assert frames.tolist() == [0, 1, 3] and names == ["reach", "reach", "grasp"]


def test_sniff_tells_dlc_from_phases(tmp_path):
    dlc = tmp_path / "a.csv"
    dlc_frame(STRING_INDEX).to_csv(dlc)
    other = tmp_path / "b.csv"
    other.write_text("time,speed\n0,1\n")
    assert lab.sniff_csv(dlc) == "dlc" and lab.sniff_csv(other) == "other"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("time,label\n0,a\n", "needs a 'frame' column"),
        ("frame,label\n0.5,a\n", "whole frame indices"),
        ("frame,label\n-1,a\n", "whole frame indices"),
        ("frame,behavior\n2,a\n2,b\n", "frame 2 is listed twice"),
    ],
)
def test_phases_malformed(tmp_path, content, problem):
    path = tmp_path / "clip.behavior.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=problem) as err:
        lab.read_phases(path)
    assert str(path) in str(err.value)


# -- SLEAP -----------------------------------------------------------------------------------------
def write_two_fly_slp(path: Path, video_name: str = "flies.mp4") -> np.ndarray:
    """Two tracked animals × 2 nodes on frames 0, 1 and 3 (user) + frame 2 (predicted only)."""
    import sleap_io as sio

    skel = sio.Skeleton(["head", "tail"], [("head", "tail")])
    video = sio.Video(filename=f"/elsewhere/{video_name}", open_backend=False)
    tracks = [sio.Track(name="female"), sio.Track(name="male")]
    truth = np.arange(4 * 2 * 2 * 2, dtype=np.float32).reshape(4, 2, 2, 2)
    truth[1, 1, 0] = np.nan
    frames = []
    for t in (0, 1, 3):
        insts = [
            sio.Instance.from_numpy(truth[t, a], skeleton=skel, track=tracks[a]) for a in range(2)
        ]
        frames.append(sio.LabeledFrame(video=video, frame_idx=t, instances=insts))
    pred = sio.PredictedInstance.from_numpy(
        truth[2, 0], skeleton=skel, track=tracks[0], point_scores=np.ones(2), score=1.0
    )
    frames.append(sio.LabeledFrame(video=video, frame_idx=2, instances=[pred]))
    sio.save_slp(
        sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skel], tracks=tracks),
        str(path),
        verbose=False,
    )
    truth[2] = np.nan
    return truth


def test_slp_multi_animal_flattened(tmp_path):
    truth = write_two_fly_slp(tmp_path / "flies.slp")
    [tl] = lab.read_slp(tmp_path / "flies.slp")
    assert tl.video == "/elsewhere/flies.mp4" and tl.frames.tolist() == [0, 1, 3]
    assert tl.names == ["female_head", "female_tail", "male_head", "male_tail"] and tl.skeleton == [
        (0, 1),
        (2, 3),
    ]
    np.testing.assert_array_equal(tl.keypoints[[0, 1, 3]], truth.reshape(4, 4, 2)[[0, 1, 3]])
    assert (tl.animals, tl.nodes) == (["female", "male"], ["head", "tail"])
    # frame 2 holds only a predicted female: kept apart, with its scores
    assert tl.predicted.tolist() == [2] and tl.mean_score == 1.0
    np.testing.assert_array_equal(tl.keypoints[2, :2], np.arange(16, 20).reshape(2, 2))
    assert np.isnan(tl.keypoints[2, 2:]).all() and tl.scores[2, :2].tolist() == [1.0, 1.0]
    assert np.isnan(tl.scores[[0, 1, 3]]).all()


def test_slp_untracked_animals_are_numbered(tmp_path):
    import sleap_io as sio

    skel = sio.Skeleton(["head", "tail"], [("head", "tail")])
    video = sio.Video(filename="flies.mp4", open_backend=False)
    pts = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    insts = [sio.Instance.from_numpy(p, skeleton=skel) for p in pts]
    frames = [sio.LabeledFrame(video=video, frame_idx=0, instances=insts)]
    sio.save_slp(
        sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skel]),
        str(tmp_path / "u.slp"),
        verbose=False,
    )
    [tl] = lab.read_slp(tmp_path / "u.slp")
    assert tl.animals == ["animal0", "animal1"] and tl.names[2] == "animal1_head"
    np.testing.assert_array_equal(tl.keypoints[0], pts.reshape(4, 2))


def test_slp_malformed(tmp_path):
    path = tmp_path / "broken.slp"
    path.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(DataError, match="cannot read this SLEAP file") as err:
        lab.read_slp(path)
    assert str(path) in str(err.value)
