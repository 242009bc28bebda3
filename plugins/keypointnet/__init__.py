"""KeypointNet (Suwajanakorn et al., NeurIPS 2018): the kpbench method plugin."""
