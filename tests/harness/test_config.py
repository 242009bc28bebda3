"""Config merge order: method defaults < preset < --config file < --set."""

from __future__ import annotations

import pytest

from kpbench.config import load_config_file, parse_set, resolve
from kpbench.errors import ConfigError
from kpbench.specs import MethodSpec

SPEC = MethodSpec(
    name="m",
    tasks=("pose2d",),
    build=lambda c, num_keypoints=None: None,
    defaults={"lr": 0.1, "epochs": 10, "size": 256, "width": 32},
    presets={"smoke": {"epochs": 1, "size": 64}, "default": {"epochs": 3}, "paper": {}},
)


def test_merge_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("size: 128\nlr: 0.01\n")
    config, data, _ = resolve(
        SPEC, "smoke", load_config_file(f), parse_set(["lr=0.5", "data.max_videos=2"])
    )
    assert config == {"lr": 0.5, "epochs": 1, "size": 128, "width": 32}
    assert data == {"max_videos": 2}


def test_no_preset_is_the_paper_defaults():
    assert resolve(SPEC)[0] == dict(SPEC.defaults)


def test_set_values_are_yaml():
    assert parse_set(["a=3", "b=[1, 2]", "c=none", "d=hello", "e=1e-3"]) == {
        "a": 3,
        "b": [1, 2],
        "c": None,
        "d": "hello",
        "e": 1e-3,
    }


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: resolve(SPEC, "huge"),
            "unknown preset 'huge' for method m; presets: default, paper, smoke",
        ),
        (
            lambda: resolve(SPEC, None, None, {"nope": 1}),
            "--set: unknown key 'nope' for method m; known keys: epochs, lr, size, width",
        ),
        (lambda: parse_set(["novalue"]), "expected key=value"),
        (lambda: load_config_file("/nonexistent.yaml"), "file not found"),
    ],
)
def test_bad_config_one_clear_line(call, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as exc:
        call()
    assert "\n" not in str(exc.value)


def test_config_file_must_be_a_mapping(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config_file(f)
