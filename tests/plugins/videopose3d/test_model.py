"""The temporal model: the reference's parameter counts and FLOPs, both forms, shared weights."""

from __future__ import annotations

import pytest
import torch

from kpbench.timing import count_flops
from kpbench_plugins.videopose3d.model import TemporalModel
from kpbench_plugins.videopose3d.plugin import REFERENCE
from kpbench_plugins.videopose3d.temporal import tie

SIZES = {(3, 3, 3): (27, "27"), (3, 3, 3, 3): (81, "81"), (3, 3, 3, 3, 3): (243, "243")}


@pytest.mark.parametrize("widths", list(SIZES))
@pytest.mark.parametrize("single_frame", [False, True])
def test_parameter_counts_equal_the_reference_in_both_forms(widths, single_frame):
    with torch.device("meta"):
        m = TemporalModel(34, 51, widths, single_frame=single_frame)
    rf, key = SIZES[widths]
    assert m.receptive_field == rf
    assert sum(p.numel() for p in m.parameters()) == REFERENCE[f"params_{key}"]


@pytest.mark.parametrize("widths", [(3, 3, 3), (3, 3, 3, 3)])
def test_single_frame_flops_equal_the_reference_structure(widths):
    """Pinned from torch.utils.flop_counter on the reference TemporalModelOptimized1f."""
    m = TemporalModel(34, 51, widths, single_frame=True).eval()
    rf, key = SIZES[widths]
    x = torch.zeros(1, rf, 34)
    assert count_flops(lambda: m(x), m) == REFERENCE[f"flops_{key}"]


@pytest.mark.parametrize("causal", [False, True])
def test_the_two_forms_give_the_same_outputs_on_the_same_weights(causal):
    torch.manual_seed(0)
    seq = TemporalModel(10, 6, (3, 3, 3), causal=causal, channels=32).eval()
    one = TemporalModel(10, 6, (3, 3, 3), causal=causal, channels=32, single_frame=True).eval()
    one.load_state_dict(seq.state_dict())
    x = torch.randn(2, 40, 10)
    with torch.no_grad():
        y = seq(x)
        windows = torch.cat([one(x[:, i : i + 27]) for i in range(40 - 26)], dim=1)
    assert y.shape == (2, 14, 6)
    torch.testing.assert_close(y, windows, rtol=1e-5, atol=1e-6)


def test_tied_forms_share_parameters_and_statistics():
    seq = TemporalModel(4, 3, (3, 3), channels=8)
    one = TemporalModel(4, 3, (3, 3), channels=8, single_frame=True)
    tie(one, seq)
    one.train()
    one(torch.randn(5, 9, 4))  # updates BN running stats through the single-frame form
    assert one.expand_conv.weight is seq.expand_conv.weight
    assert torch.equal(one.expand_bn.running_mean, seq.expand_bn.running_mean)
    assert seq.expand_bn.running_mean.abs().sum() > 0


def test_even_widths_are_refused():
    with pytest.raises(ValueError, match="odd widths"):
        TemporalModel(4, 3, (3, 2))


def test_causal_model_uses_only_past_frames():
    torch.manual_seed(0)
    m = TemporalModel(2, 1, (3, 3), causal=True, channels=8).eval()
    x = torch.randn(1, 20, 2)
    y = m(x)
    x2 = x.clone()
    x2[:, -1] += 10.0  # change the last frame only
    y2 = m(x2)
    assert torch.equal(y[:, :-1], y2[:, :-1]) and not torch.equal(y[:, -1], y2[:, -1])
