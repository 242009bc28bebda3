"""The seven built-in tasks, one file each: data model, evaluation protocol, baselines, metrics.

Each module is a plugin registered through the ``kpbench`` entry-point group, like any
third-party task: its ``kpbench_tasks`` hook returns its :class:`kpbench.specs.TaskSpec`, and its
``kpbench_metrics`` hook the task's default metrics (where the task has them yet).
"""
