"""Video colorization as a tracker (Vondrick et al., ECCV 2018); also the Lab colour, clip
sampling and training loop that CorrFlow and MAST build on."""
