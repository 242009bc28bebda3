"""compare formats are plugins (kpbench_report_formats): the built-ins, a third-party one, and
isolation (a failing hook or renderer is reported by name and takes nothing else down)."""

from __future__ import annotations

import pytest

from kpbench import hookimpl, results
from kpbench.compare import compare, format_table
from kpbench.errors import ConfigError, PluginError
from kpbench.plugins import Registry
from kpbench.specs import ReportFormatSpec


class CountFormat:
    """A third-party format: one line per method with how many values it has."""

    @hookimpl
    def kpbench_report_formats(self):
        def render(summary):
            counts = summary.groupby("method").size()
            return "\n".join(f"{m}: {n} values" for m, n in counts.items())

        return [ReportFormatSpec("counts", render, "values per method")]


class BrokenHook:
    @hookimpl
    def kpbench_report_formats(self):
        raise RuntimeError("cannot build my formats")


class BrokenRender:
    @hookimpl
    def kpbench_report_formats(self):
        def render(summary):
            raise KeyError("no such column")

        return [ReportFormatSpec("fragile", render)]


@pytest.fixture
def summary(tmp_path, make_record):
    for seed in range(2):
        rec = make_record(run_id=f"r{seed}", seed=seed)
        results.write_record(tmp_path / "calms21" / "bkind" / f"r{seed}.json", rec)
    return compare(tmp_path)[0]


def test_builtins_are_offered_through_the_hook():
    reg = Registry()
    formats = reg.report_formats()
    assert {"table", "markdown", "csv", "json"} <= set(formats)
    assert formats["table"].plugin.name == "reports"


def test_a_plugin_format_is_used_by_compare(summary):
    reg = Registry()
    reg.register(CountFormat(), name="counts")
    text = format_table(summary, "counts", reg)
    assert text.startswith("bkind: ") and text.endswith(" values")
    assert "bkind" in format_table(summary, "table", reg)


def test_a_raising_hook_is_reported_by_name_and_the_rest_still_work(summary):
    reg = Registry()
    reg.register(BrokenHook(), name="broken_formats")
    reg.register(CountFormat(), name="counts")
    assert "counts" in reg.report_formats() and "table" in reg.report_formats()
    broken = {p.name: p.error for p in reg.errors()}
    assert "cannot build my formats" in broken["broken_formats"]
    with pytest.raises(ConfigError, match="plugins that failed to load: broken_formats"):
        format_table(summary, "latex", reg)


def test_a_raising_renderer_is_one_line_naming_the_format_and_plugin(summary):
    reg = Registry()
    reg.register(BrokenRender(), name="fragile_plugin")
    with pytest.raises(PluginError, match="--format fragile \\(plugin fragile_plugin") as info:
        format_table(summary, "fragile", reg)
    assert "\n" not in str(info.value)
    assert "bkind" in format_table(summary, "markdown", reg)


def test_unknown_format_lists_what_exists(summary):
    with pytest.raises(ConfigError, match="valid formats: csv, json, markdown, table"):
        format_table(summary, "latex", Registry())
