"""CorrFlow, self-supervised correspondence flow (Lai & Xie, BMVC 2019); its encoder and
windowed colour copy are also MAST's."""
