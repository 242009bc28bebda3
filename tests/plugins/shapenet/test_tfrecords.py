"""KeypointNet's TFRecords, written here with the ``tfrecord`` package's own writer."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.errors import DataError
from kpbench.tasks.multiview3d import samples
from kpbench_plugins.shapenet.camera import GL_TO_CV, hemisphere_poses, intrinsics
from kpbench_plugins.shapenet.dataset import build
from kpbench_plugins.shapenet.layout import find_models
from kpbench_plugins.shapenet.mesh import load_mesh
from kpbench_plugins.shapenet.orient import normalising_transform
from kpbench_plugins.shapenet.render import RayCaster
from kpbench_plugins.shapenet.tfrecords import encode_pair

tfrecord = pytest.importorskip("tfrecord")


def _views(twin, n=4):
    mesh = load_mesh(find_models(twin)[0][0].path)
    world = normalising_transform(mesh, "+y", "-z")
    world[:3] *= 2.0
    poses = hemisphere_poses(n, 30.0, np.random.default_rng(0))
    out = RayCaster(mesh.transformed(world)).render_many(poses, intrinsics(128, 5.0), 128)
    rgba = np.concatenate([out["rgb"], (out["mask"][..., None] * 255).astype(np.uint8)], -1)
    return rgba, poses


def _write(path, rgba, poses, pairs):
    writer = tfrecord.TFRecordWriter(str(path))
    for i, j in pairs:
        gl_a, gl_b = GL_TO_CV @ poses[i], GL_TO_CV @ poses[j]  # diag(1,-1,-1,1) is its own inverse
        writer.write(encode_pair(rgba[i], rgba[j], gl_a, gl_b))
    writer.close()


def test_records_read_back_as_opencv_pairs(twin, tmp_path):
    rgba, poses = _views(twin)
    # the OpenGL form looks down -z: the origin is 30 units along -z
    assert (GL_TO_CV @ poses[0] @ [0, 0, 0, 1])[2] == pytest.approx(-30.0)
    root = tmp_path / "cars_with_keypoints"
    root.mkdir()
    _write(root / "00001.tfrecord", rgba, poses, [(0, 1), (2, 3)])
    _write(root / "00002.tfrecord", rgba, poses, [(1, 2)])
    _write(root / "00003.tfrecord", rgba, poses, [(3, 0)])
    (root / "00004.tfrecord").write_bytes(b"\x01\x02 not a tfrecord")
    (root / "test.txt").write_text("00002\n")
    (root / "dev.txt").write_text("00003\n")
    f = 1.0 / np.tan(np.radians(2.5))
    (root / "projection.txt").write_text(f"{f} 0 0 0\n0 {f} 0 0\n0 0 -1.0002 -0.2\n0 0 -1 0\n")
    data = build(root, views_per_model=3)
    n = data.notes
    assert n["pairs"] == {"train": 2, "test": 1} and n["categories"] == ["cars"]
    assert list(n["skipped_files"]) == [str(root / "00004.tfrecord")]
    assert list(n["ignored"]) == [str(root / "00003.tfrecord")]
    assert n["ignored_options"] == {"views_per_model": 3}
    train, test = samples(data, "train"), samples(data, "test")
    np.testing.assert_allclose(train[0]["intrinsics"], intrinsics(128, 5.0), rtol=1e-6)
    for pair, (i, j) in ((train[0], (0, 1)), (train[1], (2, 3)), (test[0], (1, 2))):
        np.testing.assert_allclose(pair["pose_a"], poses[i], atol=1e-5)  # float32 in the file
        np.testing.assert_allclose(pair["pose_b"], poses[j], atol=1e-5)
        np.testing.assert_array_equal(pair["image_a"], rgba[i, ..., :3])
        np.testing.assert_array_equal(pair["mask_b"], rgba[j, ..., 3] > 0)
    assert test[0]["object"] == "00002#0"


def test_without_test_txt_files_split_by_hash_and_damage_is_one_line(twin, tmp_path):
    rgba, poses = _views(twin, 2)
    for k in range(5):
        _write(tmp_path / f"{k:05d}.tfrecord", rgba, poses, [(0, 1)])
    data = build(tmp_path)
    assert data.notes["pairs"] == {"train": 4, "test": 1}
    assert "no test.txt" in data.notes["split_rule"]
    assert "no projection.txt" in data.notes["intrinsics"]
    # a record whose bytes are damaged after the framing: one clear line when read
    bad = tmp_path / "bad"
    bad.mkdir()
    writer = tfrecord.TFRecordWriter(str(bad / "x.tfrecord"))
    datum = encode_pair(rgba[0], rgba[1], GL_TO_CV @ poses[0], GL_TO_CV @ poses[1])
    writer.write({**datum, "img0": (b"not a png", "byte")})
    writer.close()
    pairs = samples(build(bad, test_fraction=0.0), "train")
    with pytest.raises(DataError, match=r"x.tfrecord record 0: img0 is not a PNG") as err:
        pairs[0]
    assert "\n" not in str(err.value)
