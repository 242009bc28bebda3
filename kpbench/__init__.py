"""kpbench: a benchmark harness for keypoint methods.

Plugins use :data:`hookimpl` and the records in :mod:`kpbench.specs`.
"""

from kpbench.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
