"""kpbench-nearest-pose: an example third-party kpbench plugin (see ``plugin``)."""
