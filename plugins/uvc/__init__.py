"""UVC (Li et al., NeurIPS 2019): joint region localisation and fine-grained matching for dense tracking."""
