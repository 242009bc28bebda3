"""Untrusted files (issue #13): a checkpoint that pickles code, a YAML config with Python tags
and an npz whose pickled dict names a callable are each refused with one line, and nothing
they name runs. kpbench extracts no archive; a source scan keeps it that way and keeps every
loader safe."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from kpbench.config import load_config_file, parse_set
from kpbench.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]


class _Evil:
    """Pickles as a call of os.system: loading it unsafely would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_pickles_code_is_refused(tmp_path):
    import torch

    from kpbench.weights import load_state_dict

    marker, path = tmp_path / "ran", tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": _Evil(marker)}, path)
    with pytest.raises(ConfigError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert "\n" not in message and "refused" in message and "system" in message
    assert str(path) in message
    assert not marker.exists()


def test_resuming_from_a_checkpoint_that_pickles_code_is_one_line(tmp_path):
    """--resume reads the run's own checkpoint.pt the same way: a tampered or damaged one is a
    ConfigError line naming it, never a multi-line UnpicklingError, and nothing runs."""
    import torch

    from kpbench.context import Context

    ctx = Context({}, torch.device("cpu"), 0, tmp_path / "run", True, None, False, 0, 1, 0)
    ctx.run_dir.mkdir()
    marker = tmp_path / "ran"
    torch.save({"epoch": 0, "payload": _Evil(marker)}, ctx.checkpoint_path)
    with pytest.raises(ConfigError, match=r"^checkpoint .*checkpoint\.pt.* refused: .*system"):
        ctx.load_checkpoint()
    assert not marker.exists()
    ctx.checkpoint_path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ConfigError, match=r"could not be read .*start a new run") as info:
        ctx.load_checkpoint()
    assert "\n" not in str(info.value)


def test_a_real_state_dict_still_loads(tmp_path):
    import torch

    from kpbench.weights import load_state_dict

    torch.save({"weight": torch.ones(3)}, tmp_path / "ok.pth")
    assert load_state_dict(tmp_path / "ok.pth")["weight"].tolist() == [1.0, 1.0, 1.0]


def test_yaml_python_tags_are_refused(tmp_path):
    marker = tmp_path / "ran"
    cfg = tmp_path / "evil.yaml"
    cfg.write_text(f"lr: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(cfg)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"--config {cfg}: refused a YAML Python tag")
    with pytest.raises(ConfigError, match="refused a YAML Python tag"):
        parse_set([f"lr=!!python/object/apply:os.system ['touch {marker}']"])
    assert not marker.exists()


def _h36m_pair(folder: Path, positions_3d) -> None:
    from kpbench_plugins.h36m.synth import synthesize

    synthesize(folder, subjects=("S9",), frames=4, actions=1)
    np.savez(folder / "data_3d_h36m.npz", positions_3d=positions_3d)


def test_an_npz_that_pickles_code_is_refused(tmp_path):
    from kpbench_plugins.h36m.dataset import build

    marker = tmp_path / "ran"
    data = tmp_path / "h36m"
    data.mkdir()
    _h36m_pair(data, np.array({"S9": {"Walking 1": _Evil(marker)}}, dtype=object))
    with pytest.raises(DataError) as info:
        build(data)
    message = str(info.value)
    assert "\n" not in message and "data_3d_h36m.npz" in message
    assert "refused to load global posix.system" in message
    assert not marker.exists()


SOURCES = sorted((REPO / "kpbench").rglob("*.py")) + sorted((REPO / "plugins").rglob("*.py"))
UNSAFE = {
    "torch.load without weights_only=True": re.compile(r"torch\.load\((?![^)]*weights_only=True)"),
    "yaml.load / unsafe_load / full_load": re.compile(r"yaml\.(load|unsafe_load|full_load)\("),
    "np.load with allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True\s*[,)]"),
    "pickle.load(s)": re.compile(r"\bpickle\.loads?\("),
    "archive extraction": re.compile(
        r"\b(extractall|unpack_archive|tarfile|zipfile\.ZipFile\(.*['\"]w)"
    ),
}


@pytest.mark.parametrize("what", sorted(UNSAFE))
def test_no_unsafe_loader_in_the_sources(what):
    hits = [
        f"{p.relative_to(REPO)}:{i}"
        for p in SOURCES
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if UNSAFE[what].search(line) and not line.lstrip().startswith(("#", '"', "``"))
    ]
    assert hits == [], f"{what} in {hits}: use the safe loader (or guard extraction paths)"


def test_config_files_that_are_not_yaml_text_are_one_line(tmp_path):
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(b"\x80\x04\x95 pickled, not yaml \xff")
    with pytest.raises(ConfigError, match="not a UTF-8 YAML text file"):
        load_config_file(binary)
    with pytest.raises(ConfigError, match="is a folder; --config takes a YAML file"):
        load_config_file(tmp_path)
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(ConfigError, match=f"--config {deep}: "):
        load_config_file(deep)
