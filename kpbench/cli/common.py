"""Arguments shared by several verbs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_config_args(p: argparse.ArgumentParser, default_preset: str | None) -> None:
    p.add_argument(
        "--preset",
        default=default_preset,
        help="smoke | default | paper, or a plugin's preset (kpbench list presets); default: "
        f"{default_preset or 'the paper model, no preset'}",
    )
    p.add_argument("--config", dest="config_file", type=Path, help="YAML file of config keys")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key (repeatable); data.* keys go to the dataset",
    )


def add_format(p: argparse.ArgumentParser, choices=("table", "json")) -> None:
    p.add_argument("--format", choices=choices, default="table", help="output format")
