"""HRNet top-down pose estimation (Sun et al., CVPR 2019)."""
