"""TCC's network: the paper model's parameters and FLOPs derived by hand, shapes, no access to
absolute time, only-BN backbone training, ImageNet weights from a local file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kpbench.config import resolve
from kpbench.errors import ConfigError
from kpbench.plugins import get_registry
from kpbench.timing import count_flops
from kpbench_plugins.tcc.method import TCCMethod
from kpbench_plugins.tcc.model import FrameEncoder
from kpbench_plugins.tcc.plugin import REFERENCE


def config(preset="smoke", **over):
    return resolve(get_registry().method("tcc"), preset, None, over)[0]


class Count:
    """Parameters and FLOPs (2 per multiply-add) of conv/linear layers, BN as 2 params/channel."""

    def __init__(self):
        self.params = self.flops = 0

    def conv(self, cin, cout, k, out_hw, bias=False, bn=True, depth=1):
        """``k``: kernel side (k×k, or k×k×k when ``depth`` > 1 output planes are 3D)."""
        taps = k**3 if depth > 1 else k * k
        self.params += cin * cout * taps + (cout if bias else 0) + (2 * cout if bn else 0)
        self.flops += 2 * cin * cout * taps * out_hw * out_hw * depth

    def linear(self, cin, cout):
        self.params += cin * cout + cout
        self.flops += 2 * cin * cout


def resnet50_through_layer3_block3(c: Count) -> None:
    """torchvision ResNet-50 (v1.5: stride on the 3×3) at 224²: stem, layer1, layer2, layer3[:3]."""
    c.conv(3, 64, 7, 112)  # conv1 stride 2, then max-pool to 56
    cin = 64
    for width, blocks, hw, stride in ((64, 3, 56, 1), (128, 4, 28, 2), (256, 3, 14, 2)):
        for b in range(blocks):
            c.conv(cin, width, 1, hw * stride if b == 0 else hw)  # 1×1 at the input size
            c.conv(width, width, 3, hw)  # 3×3 (stride 2 in a stage's first block)
            c.conv(width, 4 * width, 1, hw)
            if b == 0:
                c.conv(cin, 4 * width, 1, hw)  # downsample
            cin = 4 * width


def embedder(c: Count) -> None:
    """2 × Conv3d 3×3×3 'same' on (k=2, 14, 14) with bias + BN, then 2 FC 512 and 128."""
    c.conv(1024, 512, 3, 14, bias=True, depth=2)
    c.conv(512, 512, 3, 14, bias=True, depth=2)
    c.linear(512, 512)
    c.linear(512, 512)
    c.linear(512, 128)


def test_reference_figures_follow_from_the_layer_shapes():
    backbone, head = Count(), Count()
    resnet50_through_layer3_block3(backbone)
    embedder(head)
    assert backbone.params == REFERENCE["params_backbone"] == 5_191_744
    assert head.params == REFERENCE["params_embedder"] == 21_827_712
    assert backbone.params + head.params == REFERENCE["params"]
    assert backbone.flops == REFERENCE["flops_backbone_per_frame"]
    assert head.flops == REFERENCE["flops_embedder"]
    # one sample: the frame and its context frame through the backbone, then the embedder
    assert 2 * backbone.flops + head.flops == REFERENCE["flops"]


def test_the_built_paper_model_has_those_figures():
    with torch.device("meta"):
        m = TCCMethod(config(None, pretrained="none"))
    assert sum(p.numel() for p in m.model.encoder.parameters()) == REFERENCE["params_backbone"]
    assert sum(p.numel() for p in m.model.embedder.parameters()) == REFERENCE["params_embedder"]


def test_backbone_cut_gives_1024_channels_at_stride_16():
    enc = FrameEncoder("resnet50").eval()
    x = torch.zeros(1, 3, 224, 224)
    assert enc(x).shape == (1, 1024, 14, 14)
    assert count_flops(lambda: enc(x), enc) == REFERENCE["flops_backbone_per_frame"]
    assert FrameEncoder("resnet18")(torch.zeros(2, 3, 64, 64)).shape == (2, 256, 4, 4)


@pytest.mark.parametrize("kind", ["frames", "keypoints"])
def test_shapes(kind):
    m = TCCMethod(config(), joints=5, kind=kind)
    batch = m.example_batch(3)
    assert batch.shape[:2] == (3, 2)
    assert m.infer(batch).shape == (3, 8)
    x, steps, lengths = m.train_batch(12)  # 12 frames of 6 → 2 videos × 6 frames
    assert x.shape[:3] == (2, 6, 2) and steps.shape == (2, 6) and lengths.shape == (2,)


def _sequence(kind, n, rng):
    if kind == "frames":
        return {"frames": rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)}
    return {"keypoints": rng.normal(100, 20, (n, 5, 2))}


@pytest.mark.parametrize("kind", ["frames", "keypoints"])
def test_embeddings_depend_on_content_not_on_position(kind):
    """Dropping a sequence's first frames leaves the embeddings of the frames whose context
    is whole unchanged: the network cannot count frames."""
    torch.manual_seed(0)
    m = TCCMethod(config(), joints=5, kind=kind)
    seq = _sequence(kind, 30, np.random.default_rng(0))
    cut = {key: v[7:] for key, v in seq.items()}
    a = m.embed_track(m.track(seq.get("keypoints"), seq.get("frames")))
    b = m.embed_track(m.track(cut.get("keypoints"), cut.get("frames")))
    reach = (m.k - 1) * m.stride  # frames back a context reaches
    np.testing.assert_allclose(a[7 + reach :], b[reach:], rtol=1e-4, atol=1e-5)


def test_context_is_the_frame_and_the_one_stride_before_clamped_at_zero():
    from kpbench_plugins.tcc.sampling import context_steps

    np.testing.assert_array_equal(context_steps(np.array([0, 10, 20]), 2, 15),
                                  [[0, 0], [0, 10], [5, 20]])  # fmt: skip


def _step(m):
    m.train_step(m.train_batch(12))


def test_only_bn_trains_the_backbone_batchnorm_and_nothing_else_of_it():
    torch.manual_seed(0)
    m = TCCMethod(config(), kind="frames")
    before = {k: v.clone() for k, v in m.model.state_dict().items()}
    _step(m)
    after = m.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    enc = {k for k in before if k.startswith("encoder.")}
    conv = {k for k in enc if k.endswith("weight") and after[k].ndim == 4}
    bn = {k for k in enc if k.rsplit(".", 1)[-1] in ("weight", "bias") and after[k].ndim == 1}
    stats = {k for k in enc if k.endswith(("running_mean", "running_var"))}
    assert conv and not (conv & changed)
    assert bn <= changed and stats <= changed
    assert {k for k in before if k.startswith("embedder.") and "running" not in k} - changed <= {
        k for k in before if k.endswith("num_batches_tracked")
    }


def test_frozen_backbone_keeps_its_statistics_train_all_changes_its_convolutions():
    torch.manual_seed(0)
    frozen = TCCMethod(config(train_base="frozen"), kind="frames")
    mean = frozen.model.encoder.bn1.running_mean.clone()
    _step(frozen)
    assert torch.equal(frozen.model.encoder.bn1.running_mean, mean)
    full = TCCMethod(config(train_base="train_all"), kind="frames")
    w = full.model.encoder.conv1.weight.clone()
    _step(full)
    assert not torch.equal(full.model.encoder.conv1.weight, w)


def test_imagenet_weights_load_from_a_file(tmp_path, monkeypatch):
    import torchvision

    torch.manual_seed(1)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, path)
    m = TCCMethod(config(pretrained=str(path)), kind="frames")
    assert torch.equal(m.model.encoder.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert m.pretrained["loaded"] == len(m.model.encoder.state_dict())
    assert m.pretrained["skipped"] == sum(k.startswith(("layer4", "fc")) for k in state)
    # found by name in $KPBENCH_WEIGHTS too
    monkeypatch.setenv("KPBENCH_WEIGHTS", str(tmp_path))
    assert TCCMethod(config(), kind="frames").pretrained["source"] == str(path)


def test_no_weights_found_is_recorded_as_none(tmp_path, monkeypatch):
    monkeypatch.setenv("KPBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert TCCMethod(config(), kind="frames").pretrained.startswith("none: resnet18-f37072fd.pth")
    assert TCCMethod(config(pretrained="none"), kind="frames").pretrained.startswith("none:")


def test_a_wrong_weight_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, bad)
    with pytest.raises(ConfigError, match="conv1.weight is \\(8, 3, 3, 3\\)") as err:
        TCCMethod(config(pretrained=str(bad)), kind="frames")
    assert "\n" not in str(err.value)
    other = tmp_path / "other.pth"
    torch.save({"head.weight": torch.zeros(2)}, other)
    with pytest.raises(ConfigError, match="shares no tensor name"):
        TCCMethod(config(pretrained=str(other)), kind="frames")
    with pytest.raises(ConfigError, match="does not exist"):
        TCCMethod(config(pretrained=str(tmp_path / "missing.pth")), kind="frames")


def test_windows_cut_a_random_stretch_of_the_asked_length():
    assert TCCMethod.windows(0) is None  # whole sequences, as the reference
    draw, x = TCCMethod.windows(5), torch.arange(12)
    rng = np.random.default_rng(0)
    cuts = [draw(rng, x) for _ in range(20)]
    assert all(len(c) == 5 and torch.equal(c, torch.arange(c[0], c[0] + 5)) for c in cuts)
    assert len({int(c[0]) for c in cuts}) > 3
    assert torch.equal(draw(rng, torch.arange(3)), torch.arange(3))  # shorter: whole
