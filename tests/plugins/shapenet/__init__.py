"""Tests of the ``shapenet`` dataset plugin (a package, so its test module names do not clash with other plugins')."""
