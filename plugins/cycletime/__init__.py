"""CycleTime (Wang, Jabri & Efros, CVPR 2019): correspondence from the cycle-consistency of time."""
