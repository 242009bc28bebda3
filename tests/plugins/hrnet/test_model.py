"""HRNet network: sizes, FLOPs and state-dict names pinned to the reference; shapes; weights."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kpbench.errors import ConfigError
from kpbench_plugins.hrnet.model import IMAGENET_FILES, HRNet, load_pretrained

# The figures below were measured on the reference ``PoseHighResolutionNet``
# (leoxiaobin/deep-high-resolution-net.pytorch @ 6f69e467, lib/models/pose_hrnet.py) built from
# the COCO yamls (w32/w48_256x192_adam_lr1e-3), with K=17, and equal ours exactly.

#: Parameters at K=17 (the README rounds them to 28.5M and 63.6M).
PARAMS_W32 = 28_536_113
PARAMS_W48 = 63_595_745

#: ``FlopCounterMode`` total for one forward of one (3, 256, 192) and one (3, 384, 288) input,
#: W32 (2 FLOPs per multiply-add, convs only: 7.65 and 17.2 GMACs; the README says 7.1 / 16.0).
FLOPS_W32_256x192 = 15_290_007_552
FLOPS_W32_384x288 = 34_402_516_992

#: sha256 of the sorted ``"name:shape"`` lines (shape as a Python tuple) of the reference W32
#: K=17 ``state_dict()`` (1754 entries).
REFERENCE_W32_KEYS_SHA256 = "eeae6b213fb592ef4ee9ed65794e2cd39485f8d90b07ee310bd59319f0e3d9ff"


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def key_digest(state: dict) -> str:
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture(scope="module")
def w32() -> HRNet:
    torch.manual_seed(0)
    return HRNet(32, 17).eval()


@pytest.fixture(scope="module")
def w32_meta() -> HRNet:
    with torch.device("meta"):
        return HRNet(32, 17)


def test_parameter_counts_match_the_reference(w32_meta):
    assert count(w32_meta) == PARAMS_W32
    with torch.device("meta"):
        assert count(HRNet(48)) == PARAMS_W48
        # only the final 1x1 conv depends on K: (32 weights + 1 bias) per heatmap
        assert count(w32_meta) - count(HRNet(32, num_keypoints=4)) == (32 + 1) * (17 - 4)


def test_state_dict_names_and_shapes_are_the_reference(w32_meta):
    state = w32_meta.state_dict()
    assert len(state) == 1754
    assert key_digest(state) == REFERENCE_W32_KEYS_SHA256
    for key, shape in {
        "conv1.weight": (64, 3, 3, 3),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (32, 256, 3, 3),
        "transition1.1.0.0.weight": (64, 256, 3, 3),
        "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage3.3.branches.2.3.conv2.weight": (128, 128, 3, 3),
        "stage4.0.fuse_layers.3.0.2.0.weight": (256, 32, 3, 3),  # 3 halvings, last to 256 ch
        "stage4.0.fuse_layers.3.0.1.0.weight": (32, 32, 3, 3),
        "stage4.2.fuse_layers.0.3.0.weight": (32, 256, 1, 1),  # upsampling path 1/32 -> 1/4
        "stage4.2.fuse_layers.0.3.1.running_var": (32,),
        "final_layer.weight": (17, 32, 1, 1),
        "final_layer.bias": (17,),
    }.items():
        assert tuple(state[key].shape) == shape, key
    # the last module fuses only into the highest-resolution branch, but keeps all 4 branches
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in state)
    assert "stage4.2.branches.3.3.bn2.weight" in state


def test_flops_match_the_reference(w32_meta):
    for (h, w), expected in {(256, 192): FLOPS_W32_256x192, (384, 288): FLOPS_W32_384x288}.items():
        with FlopCounterMode(display=False) as counter:
            w32_meta(torch.zeros(1, 3, h, w, device="meta"))
        assert counter.get_total_flops() == expected


@pytest.mark.parametrize("size", [(256, 192), (64, 64), (128, 128)])
def test_output_is_a_quarter_of_the_input(w32, size):
    with torch.no_grad():
        out = w32(torch.randn(1, 3, *size))
    assert out.shape == (1, 17, size[0] // 4, size[1] // 4)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("size", [(384, 288), (256, 256), (32, 96)])
def test_output_shapes_on_meta(w32_meta, size):
    out = w32_meta(torch.zeros(2, 3, *size, device="meta"))
    assert out.shape == (2, 17, size[0] // 4, size[1] // 4)


def test_input_not_a_multiple_of_32_is_refused(w32_meta):
    with pytest.raises(ValueError, match="multiple of 32"):
        w32_meta(torch.zeros(1, 3, 250, 192, device="meta"))


def test_init_is_the_reference_one(w32):
    assert torch.count_nonzero(w32.final_layer.bias) == 0
    convs = [m.weight.flatten() for m in w32.modules() if isinstance(m, torch.nn.Conv2d)]
    std = torch.cat(convs).std().item()
    assert 0.00095 < std < 0.00105
    bns = [m for m in w32.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.count_nonzero(m.bias) == 0 for m in bns)


def perturbed(model: HRNet, seed: int) -> dict:
    """The model's state dict with random weights and BN statistics (so loading is visible)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            v = torch.rand(v.shape, generator=gen) * 0.1 + (0.5 if "running_var" in k else -0.05)
        state[k] = v.clone()
    return state


def test_load_pretrained_keeps_the_fitting_tensors(w32, tmp_path):
    state = perturbed(w32, seed=1)
    extra = {
        "incre_modules.0.0.conv1.weight": torch.zeros(32, 32, 1, 1),
        "downsamp_modules.0.0.weight": torch.zeros(128, 128, 3, 3),
        "final_layer.0.weight": torch.zeros(2048, 1024, 1, 1),  # the classification head
        "classifier.weight": torch.zeros(1000, 2048),
        "stage4.2.fuse_layers.1.0.0.0.weight": torch.zeros(64, 32, 3, 3),
    }
    plain, wrapped = tmp_path / "plain.pth", tmp_path / "wrapped.pth"
    torch.save({**state, **extra}, plain)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    x = torch.randn(1, 3, 64, 64)
    outputs = []
    for path, skipped in ((plain, len(extra)), (wrapped, 0)):
        model = HRNet(32, 17).eval()
        report = load_pretrained(model, path)
        assert report == {"source": str(path), "loaded": 1754, "of": 1754, "skipped": skipped}
        loaded = model.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in state.items())
        with torch.no_grad():
            outputs.append(model(x))
    assert torch.equal(outputs[0], outputs[1])

    # a K=17 file into a K=4 model: everything but the final layer
    model = HRNet(32, num_keypoints=4)
    report = load_pretrained(model, plain)
    assert report["loaded"] == 1752 and report["skipped"] == len(extra) + 2
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_load_pretrained_uses_weights_only(w32, tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    torch.save({"conv1.weight": w32.conv1.weight.detach().clone()}, path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    report = load_pretrained(HRNet(8, 3), path)
    assert calls == [True]
    assert report["loaded"] == 1 and report["skipped"] == 0


def test_load_pretrained_wrong_width_is_one_line(tmp_path):
    with torch.device("meta"):
        w48 = HRNet(48).state_dict()
    # the start of a W48 file: stem and stage 1 fit a W32 model, transition1 does not
    keys = [k for k in w48 if k.split(".")[0] in ("conv1", "bn1", "layer1", "transition1")]
    path = tmp_path / "hrnet_w48-8ef0771d.pth"
    torch.save({k: torch.zeros(w48[k].shape, dtype=w48[k].dtype) for k in keys}, path)
    with pytest.raises(ConfigError) as info:
        load_pretrained(HRNet(32), path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "transition1.0.0.weight" in message
    assert "HRNet-W48 file?" in message and IMAGENET_FILES[32] in message


def test_load_pretrained_no_matching_key(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(10, 4)}, path)
    with pytest.raises(ConfigError, match="shares no tensor name") as info:
        load_pretrained(HRNet(8, 3), path)
    assert "\n" not in str(info.value)


def test_the_papers_gflops_are_the_same_count_in_multiply_adds_over_2_30():
    """The README's 7.1 / 14.6 / 16.0 "GFLOPs" are the reference's get_model_summary: conv
    multiply-adds divided by 1024³, i.e. our FlopCounterMode figures / 2 / 2³⁰."""
    from kpbench_plugins.hrnet.plugin import REFERENCE

    def paper(flops):
        return round(flops / 2 / 2**30, 1)

    assert paper(REFERENCE["flops"]) == 7.1
    assert paper(REFERENCE["flops_w48"]) == 14.6
    assert paper(REFERENCE["flops_w32_384x288"]) == 16.0
