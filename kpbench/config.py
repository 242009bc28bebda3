"""Config resolution: method defaults < preset (the method's layer, then a shared preset's
settings) < ``--config file.yaml`` < ``--set key=value``.

Configs are flat ``key -> value`` mappings. Keys starting with ``data.`` are options for the
dataset's ``build`` (``--set data.max_videos=2``), keys starting with ``task.`` options of the
task's evaluation protocol (``--set task.max_test_frames=100``, checked by the task); every
other key must be one the method declares in its defaults, or one of :data:`RUN_KEYS`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kpbench.errors import ConfigError
from kpbench.specs import MethodSpec

PRESETS = ("smoke", "default", "paper")
#: Keys every method accepts besides its defaults, read by the harness (in the config only when
#: set): ``checkpoint_every``, steps between mid-epoch checkpoints (kpbench.training).
RUN_KEYS = ("checkpoint_every",)


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Parse ``key=value`` strings; values are read as YAML (``3`` → int, ``[1,2]`` → list)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set epochs=3")
        try:
            out[key.strip()] = _scalar(yaml.safe_load(raw)) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: {_yaml_problem(exc)}") from None
    return out


def _yaml_problem(exc: Exception) -> str:
    """One line for a YAML error; Python tags (``!!python/object/apply:os.system``) are named."""
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    if "python/" in problem:
        return (
            f"refused a YAML Python tag ({problem}): config files are parsed as plain data "
            "(yaml.safe_load); write values as numbers, text, lists or mappings"
        )
    return f"not valid YAML ({problem})"


def _scalar(value: Any) -> Any:
    """What YAML 1.1 leaves as text but people mean as values: ``1e-3``, ``none``."""
    if not isinstance(value, str):
        return value
    if value.lower() in ("none", "null"):
        return None
    try:
        return float(value)
    except ValueError:
        return value


def load_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a YAML (or JSON) mapping of config keys."""
    import yaml

    if path is None:
        return {}
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"--config {p} is a folder; --config takes a YAML file")
    if not p.is_file():
        raise ConfigError(f"--config {p}: file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {p}: {_yaml_problem(exc)}") from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(
            f"--config {p}: not a UTF-8 YAML text file ({type(exc).__name__})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"--config {p}: expected a mapping of key: value, got {type(data).__name__}"
        )
    return data


def resolve(
    spec: MethodSpec,
    preset: str | None = None,
    file_config: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    preset_settings: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Merge the layers for ``spec``; return ``(method_config, data_options, task_options)``.

    ``preset`` names the method's preset layer; ``preset_settings`` are a shared preset's
    ``data.KEY`` / ``task.KEY`` values (:func:`kpbench.presets.layer_and_settings`), applied
    after that layer and before ``--config``.

    Raises:
        ConfigError: an unknown preset, or a key the method does not declare.
    """
    config = copy.deepcopy(dict(spec.defaults))
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if preset is not None:
        if preset not in spec.presets:
            known = ", ".join(sorted(spec.presets)) or "none"
            raise ConfigError(f"unknown preset {preset!r} for method {spec.name}; presets: {known}")
        layers.append((f"preset {preset}", spec.presets[preset]))
    layers += [
        (f"preset {preset}", preset_settings or {}),
        ("--config", file_config or {}),
        ("--set", overrides or {}),
    ]
    data_options: dict[str, Any] = {}
    task_options: dict[str, Any] = {}
    for origin, layer in layers:
        for key, value in layer.items():
            if key.startswith("data."):
                data_options[key[5:]] = value
                continue
            if key.startswith("task."):
                task_options[key[5:]] = value
                continue
            if key not in config and key not in RUN_KEYS:
                known = ", ".join(sorted(config))
                raise ConfigError(
                    f"{origin}: unknown key {key!r} for method {spec.name}; known keys: {known}"
                )
            config[key] = copy.deepcopy(value)
    return config, data_options, task_options


def canonical(config: Mapping[str, Any]) -> str:
    """Canonical JSON text of a config (sorted keys), for hashing and display."""
    return json.dumps(config, sort_keys=True, default=str)
