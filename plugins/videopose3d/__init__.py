"""VideoPose3D (Pavllo et al., CVPR 2019): temporal convolutions over keypoint sequences."""
