"""The one propagator: a known translation is followed, chunking changes nothing and bounds
memory, settings are checked and reach it from the input's ``protocol``, NaN rules hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kpbench.propagation.propagator as prop
from kpbench.errors import ConfigError
from kpbench.propagation.encoders import ModuleEncoder
from kpbench.propagation.method import PropagationMethod
from kpbench.propagation.propagator import PropagationSettings, propagate, settings_from
from kpbench.video import ArrayFrames

KP = np.array([[40.0, 30.0], [70.0, 50.0], [50.0, 60.0], [41.0, 33.0]])
STEP = (8, 4)  # px per frame: two and one cells of stride 4


def _texture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (120, 160, 3), dtype=np.uint8)


def _translated(n: int = 8, step=STEP) -> tuple[ArrayFrames, np.ndarray]:
    """Frame t is frame 0 moved by t·step (wrapping around, so every cell has its match)."""
    base = _texture()
    shifts = np.array([(step[0] * t, step[1] * t) for t in range(n)], np.float64)
    frames = np.stack([np.roll(base, (int(dy), int(dx)), (0, 1)) for dx, dy in shifts])
    return ArrayFrames(frames, "moved"), shifts


def _encoder(seed: int = 0) -> ModuleEncoder:
    """A fixed random conv of the pixels, stride 4 (circular padding: exactly equivariant to
    the wrapped translation)."""
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(3, 32, 8, stride=4, padding=2, padding_mode="circular")
    return ModuleEncoder(conv, 4, mean=(0.5,) * 3, std=(0.25,) * 3)


@pytest.mark.parametrize("size, step, n", [(None, STEP, 8), (60, (16, 8), 5), (240, STEP, 4)])
def test_a_translated_frame_is_followed_within_one_cell(size, step, n):
    """Moves of whole cells at the resized scale (features then shift exactly)."""
    frames, shifts = _translated(n, step)
    out = propagate(_encoder(), frames, 0, n, KP, np.ones(4, bool), PropagationSettings(size=size))
    assert out.shape == (n, 4, 2) and out.dtype == np.float64
    np.testing.assert_array_equal(out[0], KP)
    cell = 4 * 120 / (size or 120)  # one feature cell in original pixels
    assert np.abs(out - KP[None] - shifts[:, None]).max() < cell


def test_segment_start_is_honoured():
    frames, shifts = _translated(6)
    out = propagate(_encoder(), frames, 2, 4, KP, np.ones(4, bool), PropagationSettings(size=None))
    assert np.abs(out - KP[None] - (shifts[2:] - shifts[2])[:, None]).max() < 4


def test_chunked_equals_unchunked_and_blocks_are_bounded(monkeypatch):
    frames, _ = _translated(5)
    whole = PropagationSettings(size=None, chunk=10**6, context=3)
    blocks: list[tuple] = []
    real = prop._window_bias
    monkeypatch.setattr(prop, "BIAS_CACHE_BYTES", 0)  # recompute every frame: count blocks

    def spy(rows, h, w, radius, torch_):
        mask = real(rows, h, w, radius, torch_)
        blocks.append(tuple(mask.shape))  # the shape of each affinity block
        return mask

    a = propagate(_encoder(), frames, 0, 5, KP, np.ones(4, bool), whole)
    monkeypatch.setattr(prop, "_window_bias", spy)
    b = propagate(_encoder(), frames, 0, 5, KP, np.ones(4, bool), PropagationSettings(
        size=None, chunk=37, context=3))  # fmt: skip
    np.testing.assert_allclose(a, b, atol=1e-4)
    cells = 30 * 40
    assert max(r for r, _ in blocks) == 37 and {c for _, c in blocks} == {cells}
    assert sum(r for r, _ in blocks) == cells * 3  # frames 2..4 have restricted frames


def test_unlabelled_keypoint_follows_the_labelled_mean_and_output_has_no_nan():
    frames, _ = _translated(4)
    kp = KP.copy()
    kp[2] = np.nan
    out = propagate(_encoder(), frames, 0, 4, kp, np.ones(4, bool), PropagationSettings(size=None))
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out[:, 2], out[:, [0, 1, 3]].mean(1))


def test_keypoint_outside_the_image_is_tracked_from_the_border():
    frames, shifts = _translated(4)
    kp = np.array([[-5.0, 30.0], [70.0, 50.0]])
    out = propagate(_encoder(), frames, 0, 4, kp, np.array([False, True]),
                    PropagationSettings(size=None))  # fmt: skip
    assert out[0, 0].tolist() == [-5.0, 30.0] and np.isfinite(out).all()
    assert np.abs(out[1:, 0] - ([0.0, 30.0] + shifts[1:])).max() < 4


def test_bad_inputs_are_one_line_errors():
    frames, _ = _translated(3)
    s = PropagationSettings(size=None)
    with pytest.raises(ValueError, match="need a labelled keypoint"):
        propagate(_encoder(), frames, 0, 3, np.full((2, 2), np.nan), np.ones(2, bool), s)
    with pytest.raises(ValueError, match="within the video's 3"):
        propagate(_encoder(), frames, 1, 3, KP, np.ones(4, bool), s)
    with pytest.raises(ValueError, match=r"must be \(K, 2\)"):
        propagate(_encoder(), frames, 0, 3, KP[:, :1], np.ones(4, bool), s)
    lying = ModuleEncoder(torch.nn.AvgPool2d(8), 4)  # claims stride 4, pools by 8
    with pytest.raises(ConfigError, match="expected .* for stride 4"):
        propagate(lying, frames, 0, 3, KP, np.ones(4, bool), s)


@pytest.mark.parametrize(
    "key, value",
    [("context", -1), ("topk", 0), ("temperature", 0.0), ("sigma", -1.0), ("chunk", 1.5),
     ("size", 0), ("radius", "big"), ("readout_topk", True)],
)  # fmt: skip
def test_settings_out_of_range_are_one_line_errors(key, value):
    with pytest.raises(ConfigError, match=f"propagation {key}: expected"):
        PropagationSettings(**{key: value})


def test_settings_from_protocol():
    assert settings_from(None) == PropagationSettings()
    assert settings_from({"topk": 3, "size": None}) == PropagationSettings(topk=3, size=None)
    assert settings_from(PropagationSettings(radius=4).as_dict()).radius == 4
    with pytest.raises(ConfigError, match=r"unknown settings \['topK'\]"):
        settings_from({"topK": 3})


def test_resized_size_keeps_the_aspect():
    assert prop.resized_size(320, 240, 320) == (427, 320)
    assert prop.resized_size(240, 320, 160) == (160, 213)
    assert prop.resized_size(33, 20, None) == (33, 20)


class _Ctx:
    device = torch.device("cpu")

    @staticmethod
    def progress(it, total=None, desc=""):
        return iter(it)


class _Conv(PropagationMethod):
    def __init__(self):
        self.model = _encoder().module

    def encoder(self):
        return ModuleEncoder(self.model, 4, mean=(0.5,) * 3, std=(0.25,) * 3)


def test_protocol_of_each_input_reaches_the_propagator(monkeypatch):
    import kpbench.propagation.method as pmethod

    seen = []
    real = pmethod.propagate

    def spy(*args, **kwargs):
        seen.append(args[6])
        return real(*args, **kwargs)

    monkeypatch.setattr(pmethod, "propagate", spy)
    frames, shifts = _translated(4)
    x = {"frames": frames, "start": 0, "num_frames": 4, "first_keypoints": KP,
         "first_visibility": np.ones(4, bool)}  # fmt: skip
    inputs = [{**x, "protocol": {"size": None, "topk": 7}}, {**x, "num_frames": 2}]
    pred = _Conv().predict(inputs, _Ctx())
    assert seen == [PropagationSettings(size=None, topk=7), PropagationSettings()]
    assert pred["keypoints"].shape == (6, 4, 2)
    assert np.abs(pred["keypoints"][:4] - KP - shifts[:, None]).max() < 4


def test_method_example_batch_and_infer():
    m = _Conv()
    batch = m.example_batch(2)
    assert batch.shape == (2, 3, 320, 320) and 0 <= float(batch.min()) <= float(batch.max()) <= 1
    assert tuple(m.infer(batch).shape) == (2, 32, 80, 80)
