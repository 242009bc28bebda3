"""Run presets: ``--preset NAME`` for every method, offered through ``kpbench_presets``.

Every method and task declares three layers, ``smoke`` (tests: a tiny model, a few steps, a few
evaluation inputs), ``default`` (a CPU demo in minutes) and ``paper`` (the paper's model and
recipe, for a GPU); this module offers them as :class:`kpbench.specs.PresetSpec` records, the
way a plugin offers its own. A plugin's shared preset names one of these layers as its ``base``
and adds ``data.KEY`` / ``task.KEY`` settings, e.g. a lab's evaluation protocol::

    PresetSpec("lab_eval", "our test protocol", base="default",
               settings={"task.max_test_frames": 2000, "data.test_fraction": 0.3})

``kpbench run --method M --preset lab_eval`` then runs M at its ``default`` size on that protocol,
and so does every other method. A method may also declare presets of its own (a key of
``MethodSpec.presets`` outside the three layers); those apply to that method alone.
"""

from __future__ import annotations

from typing import Any

from kpbench import hookimpl
from kpbench.errors import ConfigError
from kpbench.specs import LAYERS, PresetSpec

BUILT_IN = (
    PresetSpec("smoke", "tests: a tiny model, a few steps, a few evaluation inputs"),
    PresetSpec("default", "a CPU demo: the same code sized to train in minutes on 2 cores"),
    PresetSpec("paper", "the paper's model and recipe (a GPU); the task's full protocol"),
)
assert tuple(p.name for p in BUILT_IN) == LAYERS


def layer_and_settings(registry, name: str | None, method) -> tuple[str | None, dict[str, Any]]:
    """What ``--preset name`` means for ``method`` (a :class:`kpbench.specs.MethodSpec`).

    Returns:
        ``(layer, settings)``: the name of the method's and task's preset layer to apply, and the
        shared preset's ``data.KEY`` / ``task.KEY`` settings to apply on top of it. A name the
        method declares itself (outside the shared presets) is its own layer, without settings.

    Raises:
        ConfigError: no shared preset and no preset of the method has that name (the message
            lists both).
    """
    if name is None:
        return None, {}
    shared = registry.presets()
    if name in shared:
        spec = shared[name].spec
        return spec.base or spec.name, dict(spec.settings)
    if name in method.presets:
        return name, {}
    own = sorted(set(method.presets) - set(shared))
    broken = [p.name for p in registry.errors()]
    raise ConfigError(
        f"unknown preset {name!r} for method {method.name}; presets: {', '.join(sorted(shared))}"
        + (f"; {method.name}'s own: {', '.join(own)}" if own else "")
        + (f"; plugins that failed to load: {', '.join(broken)}" if broken else "")
    )


@hookimpl
def kpbench_presets():
    return list(BUILT_IN)
