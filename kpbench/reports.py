"""The built-in ``kpbench compare --format`` renderers, offered through the same hook as a
plugin's (``kpbench_report_formats``): ``table``, ``markdown``, ``csv`` and ``json``."""

from __future__ import annotations

import importlib.util
from typing import Any

from kpbench import hookimpl
from kpbench.specs import ReportFormatSpec

EMPTY = "no values to compare: the finished runs record no metrics, timing or size"


def _blocks(summary: Any, render_block) -> str:
    """One rendered block per (dataset, task), blank-line separated."""
    from kpbench.compare import wide_block

    if summary.empty:
        return EMPTY
    blocks = []
    for (dataset, task), block in summary.groupby(["dataset", "task"], sort=False):
        blocks.append(render_block(f"dataset={dataset} task={task}", wide_block(block)))
    return "\n\n".join(blocks)


def render_table(summary: Any) -> str:
    """Plain text: methods and then baselines as rows, cells ``mean ± std (n=N)``."""
    return _blocks(summary, lambda heading, wide: f"{heading}\n{wide.to_string(index=False)}")


def render_markdown(summary: Any) -> str:
    """The table's blocks as markdown pipe tables (``tabulate`` when installed)."""
    use_tabulate = importlib.util.find_spec("tabulate") is not None

    def block(heading, wide):
        body = wide.to_markdown(index=False) if use_tabulate else pipe_table(wide)
        return f"**{heading}**\n\n{body}"

    return _blocks(summary, block)


def render_csv(summary: Any) -> str:
    """Tidy rows, one per value (``kpbench.compare.SUMMARY_COLUMNS``)."""
    from kpbench.compare import SUMMARY_COLUMNS

    return summary[SUMMARY_COLUMNS].to_csv(index=False).rstrip("\n")


def render_json(summary: Any) -> str:
    """Tidy rows as a JSON list of objects."""
    from kpbench.compare import SUMMARY_COLUMNS

    return summary[SUMMARY_COLUMNS].to_json(orient="records", indent=2, force_ascii=False)


def pipe_table(df: Any) -> str:
    """A GitHub-flavoured markdown table (used when ``tabulate`` is not installed)."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join(" --- " for _ in df.columns) + "|"
    return "\n".join([line(df.columns), rule] + [line(r) for r in df.itertuples(index=False)])


@hookimpl
def kpbench_report_formats():
    return [
        ReportFormatSpec("table", render_table, "plain text, one block per dataset and task"),
        ReportFormatSpec("markdown", render_markdown, "the same blocks as markdown tables"),
        ReportFormatSpec("csv", render_csv, "tidy rows, one per value"),
        ReportFormatSpec("json", render_json, "tidy rows as a JSON list"),
    ]
