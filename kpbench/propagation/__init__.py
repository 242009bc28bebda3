"""The propagation protocol: encoders, the one propagator, and the base class of its methods."""
