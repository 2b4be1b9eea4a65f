"""Supervised full-canvas baselines (FC and CNN) for the glimpse tasks: what reading every pixel
buys, against which the attention agents are compared. See :mod:`agents.supervised.models`."""
