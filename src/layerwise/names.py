"""The names that both a config and the modules implementing them need, without PyTorch.

The configs (train/config.py, nn/config.py, rbm/config.py, run_config.py) are torch-free so
that the parser can build its flags from them before it imports torch; their choices
(models, activations, optimisers, precisions...) are implemented by modules that do import
torch. Both take the tuples from here, so each is written once (tests check the two agree).
A setting's default lives in its config field (layerwise.settings), not here.
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

DEFAULT_TIMEOUT = 60.0  # seconds a rank waits for the others before it stops
# Timeouts a distributed run takes: below a second every collective would fail at once (and
# 1e-300 s rounds to none at all); above about eleven days a stalled rank is never noticed.
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 1e6
