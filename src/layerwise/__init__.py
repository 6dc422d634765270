"""layerwise: train neural networks and Restricted Boltzmann Machines on PyTorch."""

__version__ = "0.1.0"
