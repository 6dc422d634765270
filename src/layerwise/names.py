"""The names and defaults the command line offers before it imports PyTorch.

Argument parsing needs the choices (models, activations, optimisers, precisions...) and a few
defaults; importing the modules that define them would import torch, which takes seconds, so
`layerwise --help` and a mistyped flag would wait for it. The library modules take these
values from here, so each is written once (tests check the two agree).
"""

MODELS = ("polynomial", "softmax", "mlp", "deepnn", "cifar-keras", "net1", "net2", "net3")
ACTIVATIONS = ("step", "sigmoid", "tanh", "relu", "leaky_relu", "elu")
POOLS = ("max", "mean", "min", "sum")
OPTIMIZERS = ("gd", "sgd", "momentum", "adam")

RBM_DTYPES = ("float32", "float64")
# How matrix products are computed while training: at the storage dtype, or with float32 weights
# in TensorFloat-32 (CUDA tensor cores) or with operands rounded to bfloat16.
MATMUL_PRECISIONS = ("full", "tf32", "bf16")
# Supervised training: float32 throughout, or the forward pass under bfloat16 autocast.
TRAIN_PRECISIONS = ("float32", "bf16")
PARALLEL_ALGORITHMS = ("model", "data", "visible")
BINARY_LR, GAUSSIAN_LR = 0.05, 1e-3  # CD learning rates by visible unit type

DEFAULT_TIMEOUT = 60.0  # seconds a rank waits for the others before it stops
