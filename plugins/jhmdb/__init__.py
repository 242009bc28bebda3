"""JHMDB (Jhuang et al., ICCV 2013): joint-annotated HMDB clips, the keypoint propagation benchmark."""
