"""TCC (Dwibedi et al., CVPR 2019): temporal cycle-consistency learning of per-frame embeddings."""
