"""The ``discovery2d`` metrics: BKinD's regression error, in % and px, and PCK after regression.

Definitions and the protocol live in :mod:`kpbench.metrics.discovery` (numpy; scipy on first use).
"""

from __future__ import annotations

from functools import partial

from kpbench import hookimpl
from kpbench.metrics.discovery import (
    pck_after_regression,
    regression_error_percent,
    regression_error_px,
)
from kpbench.specs import MetricSpec

_PROTOCOL = "least squares without bias, discovered -> annotated, fitted on fit frames, scored on test frames"


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(
            name="regression_error",
            task="discovery2d",
            fn=regression_error_percent,
            unit="%",
            higher_is_better=False,
            description=f"mean L2 of regressed joints, % of image size (x/W, y/H); {_PROTOCOL}",
        ),
        MetricSpec(
            name="regression_error_px",
            task="discovery2d",
            fn=regression_error_px,
            unit="px",
            higher_is_better=False,
            description=f"mean L2 of regressed joints, px of the original frame; {_PROTOCOL}",
        ),
        *(
            MetricSpec(
                name=f"pck@{alpha}",
                task="discovery2d",
                fn=partial(pck_after_regression, alpha=alpha),
                unit="%",
                higher_is_better=True,
                description=f"% of regressed joints within {alpha} of the image size (L2 in x/W, y/H); {_PROTOCOL}",
            )
            for alpha in (0.05, 0.1)
        ),
    ]
