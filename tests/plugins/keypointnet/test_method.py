"""KeypointNet as a kpbench method: conformance on the task's smoke set, reference figures
derived layer by layer from the reference architecture, the orientation flag's meaning, and
predictions that land in each view's OpenCV camera frame."""

from __future__ import annotations

import numpy as np
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.testing import check_method, check_reference
from kpbench_plugins.keypointnet import data as kd
from kpbench_plugins.keypointnet.plugin import DEFAULTS, REFERENCE

SPEC = get_registry().method("keypointnet")


def test_conformance_on_the_smoke_set(tmp_path):
    report = check_method(SPEC, "multiview3d", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0
    assert report["metrics"]["angular_error_mean"]["value"] is not None


def _conv(cin, cout, pixels=0, bias=False):
    """Parameters and FLOPs (2 per multiply-add over ``pixels`` outputs) of a 3×3 conv."""
    return 9 * cin * cout + (cout if bias else 0), 2 * 9 * cin * cout * pixels


def test_reference_figures_derived_layer_by_layer():
    # tensorflow/models research/keypointnet/main.py: dilated_cnn = 12 slim conv2d 3×3 with
    # batch_norm (no conv bias; slim batch_norm learns beta, not gamma) → +C per layer;
    # heads are plain slim conv2d 3×3 with bias. OrientNet: 32 filters on RGB, a 2-channel
    # head; KeypointNet: 64 filters on RGB + flag, conv_xy and conv_z with K = 10 channels.
    pixels, k = 128 * 128, 10
    params = flops = 0
    for cin, width, heads in ((3, 32, [2]), (4, 64, [k, k])):
        for layer in range(12):
            p, f = _conv(cin if layer == 0 else width, width, pixels)
            params, flops = params + p + width, flops + f
        for out in heads:
            p, f = _conv(width, out, pixels, bias=True)
            params, flops = params + p, flops + f
    assert params == REFERENCE["params"] == 523_318
    assert 2 * flops == REFERENCE["flops"]  # one view pair = two views
    counted = check_reference(SPEC)
    assert counted["params"] == params and counted["flops"] == 2 * flops
    method = SPEC.build(resolve(SPEC, None)[0])
    orient = sum(p.numel() for p in method.model.orient.parameters())
    assert orient == REFERENCE["params_orientnet"]
    assert params - orient == REFERENCE["params_keypointnet"]


def test_defaults_are_the_papers_model():
    assert DEFAULTS["num_keypoints"] == 10 and DEFAULTS["image_size"] == 128
    assert DEFAULTS["dilations"] == [1, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1]
    assert (DEFAULTS["loss_pose"], DEFAULTS["loss_variance"], DEFAULTS["sep_delta"]) == (
        0.2,
        0.5,
        0.05,
    )
    assert set(SPEC.presets) == {"smoke", "default", "paper"} and SPEC.presets["paper"] == {}


def test_orientation_flag_says_which_way_the_object_faces():
    # world +Y up, objects face −Z: from the front (camera on −Z) the object's +x points left
    front, back = kd._look_at(np.array([0.0, 5.0, -30.0])), kd._look_at(np.array([0.0, 5.0, 30.0]))
    cam = kd.camera_ndc(np.array([[1466.0, 0, 63.5], [0, 1466.0, 63.5], [0, 0, 1]]), (128, 128))
    (ndc_f, flag_f), (ndc_b, flag_b) = (kd.orient_targets(p, cam, [1, 0, 0]) for p in (front, back))
    assert flag_f == 0.0 and ndc_f[0, 0] < ndc_f[1, 0]
    assert flag_b == 1.0 and ndc_b[0, 0] > ndc_b[1, 0]


def test_predictions_are_camera_frame_points_that_project_to_the_softmax_locations():
    config = resolve(SPEC, "smoke")[0]
    method = SPEC.build(config)
    pairs = kd.synthetic_pairs(3, 16, seed=1)
    inputs = [{k: p[k] for k in ("image_a", "image_b", "mask_a", "mask_b", "intrinsics")}
              for p in pairs]  # fmt: skip
    pred = method.predict(inputs, None)
    assert pred["keypoints_a"].shape == (3, 10, 3) and (pred["keypoints_a"][..., 2] > 0).all()
    batch = kd.to_batch(kd.stack([kd.views(x, 16) for x in inputs]), "cpu")
    with torch.inference_mode():
        out = method.model(batch["images"].flatten(0, 1))
    uv_ndc = out["uv"].view(3, 2, 10, 2)[:, 0].double().numpy()
    k = pairs[0]["intrinsics"]
    px = np.einsum("ij,nkj->nki", k, pred["keypoints_a"])
    px = px[..., :2] / px[..., 2:]
    np.testing.assert_allclose(px, (uv_ndc + 1) * 8 - 0.5, atol=1e-3)


def _context(config, run_dir, resume=False):
    from kpbench.context import Context
    from kpbench.tracking import Tracker

    return Context(config, torch.device("cpu"), 0, run_dir, resume, Tracker(enabled=False), False,
                   rank=0, world_size=1, local_rank=0)  # fmt: skip


def test_fit_logs_the_six_terms_checkpoints_and_resumes(tmp_path):
    from fake_data import SplitData

    pairs = [{**p, "object": f"o{i}", "category": "car"}
             for i, p in enumerate(kd.synthetic_pairs(4, 24, seed=3))]  # fmt: skip
    data = SplitData({"train": pairs})
    config = resolve(SPEC, "smoke", None, {"steps": 3, "depth_bias": None})[0]
    method, ctx = SPEC.build(config), _context(config, tmp_path)
    method.fit(data, ctx)
    assert len(ctx.history) == 3 and ctx.notes["train_pairs"] == 4
    assert {"loss", "pose", "separation", "anneal"} <= set(ctx.history[0])
    assert np.isclose(ctx.notes["depth_bias"], 30.0)  # the synthetic cameras are 30 away
    assert all(np.isfinite(row["loss"]) for row in ctx.history)
    assert (tmp_path / "checkpoint.pt").is_file() and method.step == 3
    more = resolve(SPEC, "smoke", None, {"steps": 5, "depth_bias": None})[0]
    again, ctx2 = SPEC.build(more), _context(more, tmp_path, resume=True)
    again.fit(data, ctx2)
    assert ctx2.notes["resumed_from"] == {"epoch": 3, "step": 0} and again.step == 5
    assert [row["epoch"] for row in ctx2.history] == [0, 1, 2, 3, 4]
