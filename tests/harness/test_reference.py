"""Every registered method's reference figures (parameters, inference FLOPs) are pinned.

Like torchvision's model-metadata test: one generic test over the built-ins and every installed
plugin, counting on the meta device (:func:`kpbench.testing.check_reference`).
"""

from __future__ import annotations

import pytest

from kpbench.plugins import get_registry
from kpbench.testing import check_reference


@pytest.mark.parametrize("method", sorted(get_registry().methods()))
def test_method_matches_its_reference_figures(method):
    figures = check_reference(get_registry().method(method))
    assert figures["params"] >= 0 and figures["flops"] >= 0
