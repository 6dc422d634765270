"""The names of the top-level commands (main registers them; launch runs any but itself)."""

NAMES = ("quickstart", "train", "curve", "eval", "lab", "rbm", "dbn", "launch", "bench", "data",
         "reproduce")
