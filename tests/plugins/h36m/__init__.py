"""Tests of the ``h36m`` dataset plugin (a package, so its test module names do not clash with other plugins')."""
