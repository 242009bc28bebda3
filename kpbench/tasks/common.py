"""Pieces every task file uses: lazy sample lists, even subsampling, shared schema fields."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kpbench.schema import Field


class LazySamples(Sequence):
    """A read-only list whose items are built on access (``get(i)``), e.g. decoding a frame.

    Args:
        n: number of items.
        get: ``get(i) -> item`` for ``0 <= i < n``.
    """

    def __init__(self, n: int, get: Callable[[int], Any]):
        self._n, self._get = int(n), get

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return self._get(i % self._n)


def evenly(items: Sequence, n: int | None) -> list:
    """At most ``n`` items spread evenly over ``items`` (all when ``n`` is None or larger)."""
    if n is None or len(items) <= n:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, int(n)).round().astype(int)]


def one_size(sizes: Sequence[tuple[int, int]], where: str) -> tuple[int, int]:
    """The one ``(W, H)`` all frames share, else a :class:`DataError` naming the sizes."""
    from kpbench.errors import DataError

    distinct = sorted({tuple(int(v) for v in s) for s in sizes})
    if len(distinct) > 1:
        raise DataError(
            f"{where}: labelled frames have different sizes {distinct}; evaluate each size "
            "as its own dataset (e.g. one folder per camera)"
        )
    return distinct[0]


def image_field(name: str = "image", doc: str = "RGB frame", optional: bool = False) -> Field:
    return Field(name, "u8", ("H", "W", 3), "", doc, optional=optional)


SOURCE = Field("source", "str", doc="where it comes from: 'clip.mp4#12' or an image path")
IMAGE_SIZE = Field("image_size", "any", doc="(W, H) px of the original frame")
LOAD = Field("load", "callable", doc="load() -> (H, W, 3) uint8 RGB image of the frame")
