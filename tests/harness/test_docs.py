"""docs/plugins.md documents the whole plugin contract, and its examples run.

Each check returns what is missing, so a hook, spec field or record key added without docs fails
the test that names it; the ``*_reports_*`` tests feed each check a made-up name to show that.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kpbench import hookspecs
from kpbench.plugins import _HOOKS

REPO = Path(__file__).resolve().parents[2]
PLUGINS_MD = REPO / "docs" / "plugins.md"
#: Files whose ```python blocks are executed (a block marked ```python no-run is skipped).
EXECUTED = (PLUGINS_MD, REPO / "README.md")
#: Record sub-objects whose keys must each be documented as ``section.key``.
SECTIONS = ("evaluation", "timing", "flops", "data", "env", "tracking")


def doc() -> str:
    return PLUGINS_MD.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The part of a markdown text under the first heading containing ``heading``, up to the
    next heading of the same or a higher level ("" when there is none)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) ", line)
        if m and heading in line:
            level = len(m.group(1))
            body = []
            for rest in lines[i + 1 :]:
                n = re.match(r"(#+) ", rest)
                if n and len(n.group(1)) <= level:
                    break
                body.append(rest)
            return "\n".join(body)
    return ""


# -- (a) hooks ------------------------------------------------------------------------------------
def hooks(module=hookspecs) -> dict[str, str]:
    """``{hook name: "name(args)"}`` for every hookspec in ``module``."""
    return {
        name: f"{name}{inspect.signature(fn)}"
        for name, fn in vars(module).items()
        if name.startswith("kpbench_") and callable(fn)
    }


def undocumented_hooks(text: str, signatures: dict[str, str]) -> list[str]:
    """Hooks whose signature has no heading of its own in ``text``."""
    headings = [line for line in text.splitlines() if line.startswith("#")]
    return [sig for sig in signatures.values() if not any(f"`{sig}`" in line for line in headings)]


def test_every_hook_is_documented_with_its_signature():
    signatures = hooks()
    assert set(signatures) >= {"kpbench_tasks", "kpbench_datasets", "kpbench_methods"}
    assert all(getattr(hookspecs, n).__doc__.strip() for n in signatures)
    assert undocumented_hooks(doc(), signatures) == []


def test_the_hook_check_reports_a_new_hook():
    fake = {**hooks(), "kpbench_widgets": "kpbench_widgets()"}
    assert undocumented_hooks(doc(), fake) == ["kpbench_widgets()"]


# -- (b) spec fields ------------------------------------------------------------------------------
def spec_fields() -> dict[str, tuple[str, list[str]]]:
    """``{spec class name: (its hook, its field names)}`` for every hook's record type."""
    return {
        record.__name__: (hook, [f.name for f in dataclasses.fields(record)])
        for hook, record in _HOOKS.values()
    }


def undocumented_fields(text: str, specs: dict[str, tuple[str, list[str]]]) -> list[str]:
    """``Spec.field`` for each field without a table row (`` | `field` | ``) in its hook's section."""
    missing = []
    for spec, (hook, names) in specs.items():
        body = section(text, f"`{hook}(")
        missing += [f"{spec}.{n}" for n in names if f"| `{n}` |" not in body]
    return missing


def test_every_spec_field_is_documented():
    specs = spec_fields()
    assert set(specs) == {
        "TaskSpec",
        "DatasetSpec",
        "MethodSpec",
        "MetricSpec",
        "ReportFormatSpec",
        "ExporterSpec",
        "PresetSpec",
    }
    assert "trains" in specs["MethodSpec"][1] and "data_hint" in specs["DatasetSpec"][1]
    assert undocumented_fields(doc(), specs) == []


def test_the_field_check_reports_a_new_field():
    specs = spec_fields()
    hook, names = specs["MethodSpec"]
    specs["MethodSpec"] = (hook, [*names, "licence"])
    assert undocumented_fields(doc(), specs) == ["MethodSpec.licence"]


# -- (c) record keys ------------------------------------------------------------------------------
def record_paths(record: dict) -> list[str]:
    """The documented form of every key of ``record``: top-level keys, ``section.key`` for the
    :data:`SECTIONS`, and the shapes ``metrics.<name>.KEY`` and ``baselines.<baseline>.<metric>``."""
    paths = list(record)
    for name in SECTIONS:
        paths += [f"{name}.{key}" for key in record.get(name) or {}]
    for entry in (record.get("metrics") or {}).values():
        paths += [f"metrics.<name>.{key}" for key in entry]
    if record.get("baselines"):
        paths.append("baselines.<baseline>.<metric>")
    return list(dict.fromkeys(paths))


def undocumented_keys(text: str, record: dict) -> list[str]:
    """Record paths without a row (`` | `path` | ``) in the doc's "Record reference" section."""
    body = section(text, "Record reference")
    return [p for p in record_paths(record) if f"| `{p}` |" not in body]


@pytest.fixture
def toy_records(toy_registry, toy_data, tmp_path) -> list[dict]:
    """A finished toy run (as ``run`` returns it and as written) and a failed one (as written)."""
    from kpbench.errors import KpbenchError
    from kpbench.runner import RunOptions, run

    def opts(**kw) -> RunOptions:
        base = dict(
            method="toymethod",
            dataset="toy",
            data_dir=toy_data,
            preset="smoke",
            mlflow=False,
            results_dir=tmp_path,
            progress=False,
        )
        return RunOptions(**{**base, **kw})

    finished = run(opts())
    assert finished["status"] == "finished"
    with pytest.raises(KpbenchError):
        run(opts(sets=["fail_at_epoch=0"], results_dir=tmp_path / "failed"))
    (failed_file,) = (tmp_path / "failed").rglob("*.json")
    failed = json.loads(failed_file.read_text())
    assert failed["status"] == "failed" and "traceback" in failed
    written = json.loads(Path(finished["_path"]).read_text())
    return [finished, written, failed]


def test_every_record_key_is_documented(toy_records):
    finished = toy_records[0]
    paths = record_paths(finished)
    assert {"evaluation.inputs_hash", "timing.n", "flops.counted_on", "env.threads"} <= set(paths)
    assert "metrics.<name>.breakdown" in paths and "baselines.<baseline>.<metric>" in paths
    missing = sorted({p for rec in toy_records for p in undocumented_keys(doc(), rec)})
    assert missing == []


def test_the_record_check_reports_a_new_key():
    record = {
        "run_id": "r",
        "gpu_hours": 1.0,
        "timing": {"n": 10, "energy_j": 3.0},
        "metrics": {"pck@0.1": {"value": 1.0, "unit": "%", "ci95": [0.9, 1.0]}},
        "baselines": {"random": {"pck@0.1": 0.1}},
    }
    assert undocumented_keys(doc(), record) == [
        "gpu_hours",
        "timing.energy_j",
        "metrics.<name>.ci95",
    ]


# -- (d) the examples run -------------------------------------------------------------------------
def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown text, in order, without those marked ``no-run``."""
    blocks = re.findall(r"^```python([^\n]*)\n(.*?)^```\s*$", text, flags=re.M | re.S)
    return [code for info, code in blocks if "no-run" not in info.split()]


def test_python_blocks_are_found():
    text = "a\n```python\nx = 1\n```\n```python no-run\nboom()\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == ["x = 1\n"]
    assert len(python_blocks(doc())) >= 3  # the trainer skeleton, the method plugin, the task


WITH_BLOCKS = [p for p in EXECUTED if python_blocks(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("path", WITH_BLOCKS, ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path):
    """All of a file's python blocks, in order, as one script in a fresh process and folder."""
    script = tmp_path / f"{path.stem}_blocks.py"
    script.write_text("\n\n".join(python_blocks(path.read_text(encoding="utf-8"))))
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("KPBENCH_DATA", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{path.name} examples failed:\n{done.stdout}\n{done.stderr}"
