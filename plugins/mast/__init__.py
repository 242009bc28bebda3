"""MAST, a memory-augmented self-supervised tracker (Lai, Lu & Xie, CVPR 2020)."""
