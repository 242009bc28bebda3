"""CRW (Jabri, Owens & Efros, NeurIPS 2020): the contrastive random walk for dense tracking."""
