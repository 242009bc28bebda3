"""Errors that reach the user as one clear line (what, where, how to fix)."""


class KpbenchError(Exception):
    """Base class: the CLI prints ``kpbench: error: <message>`` and exits non-zero, no traceback."""


class ConfigError(KpbenchError):
    """A config key, value, preset or file is wrong."""


class PluginError(KpbenchError):
    """A plugin is unknown, broken, or two plugins claim one name."""


class DataError(KpbenchError):
    """A data folder is missing, or a file in it is malformed or unreadable."""


class IncompatibleError(KpbenchError):
    """A method and a dataset share no task."""
