"""``mocap``: BVH motion-capture takes as lifting3d sequences (see ``plugin.py``)."""
