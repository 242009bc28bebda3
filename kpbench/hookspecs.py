"""The whole plugin contract: every hook a kpbench plugin may implement.

A plugin is a module (or any object) carrying functions marked ``@kpbench.hookimpl`` and
named after the specs below. Third-party plugins are found through the ``kpbench``
entry-point group::

    [project.entry-points.kpbench]
    mymethod = "kpbench_mymethod.plugin"

Built-in plugins (``plugins/``) are registered through that same group.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("kpbench")
hookimpl = pluggy.HookimplMarker("kpbench")


@hookspec
def kpbench_tasks():
    """Tasks this plugin offers: data model, evaluation protocol and baselines of each.

    Returns:
        list[kpbench.specs.TaskSpec]: one record per task.
    """


@hookspec
def kpbench_datasets():
    """Datasets this plugin offers.

    Returns:
        list[kpbench.specs.DatasetSpec]: one record per dataset.
    """


@hookspec
def kpbench_methods():
    """Methods this plugin offers.

    Returns:
        list[kpbench.specs.MethodSpec]: one record per method.
    """


@hookspec
def kpbench_metrics():
    """Metrics this plugin offers, each for one task.

    Returns:
        list[kpbench.specs.MetricSpec]: one record per metric.
    """


@hookspec
def kpbench_report_formats():
    """Output formats of ``kpbench compare --format NAME`` this plugin offers.

    Returns:
        list[kpbench.specs.ReportFormatSpec]: one record per format.
    """


@hookspec
def kpbench_exporters():
    """Prediction exporters this plugin offers, each for one task.

    Returns:
        list[kpbench.specs.ExporterSpec]: one record per exporter.
    """


@hookspec
def kpbench_presets():
    """Run presets (``--preset NAME``) this plugin offers to every method.

    Returns:
        list[kpbench.specs.PresetSpec]: one record per preset.
    """
