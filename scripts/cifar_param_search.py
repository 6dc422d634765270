"""Find Keras-style CIFAR-10 nets whose parameter counts equal the report's table.

The report gives, for its three nets, only the number of layers (8, 7, more) and of parameters
(193,034; 686,090; 1,055,466). This enumerates the family its Keras example belongs to and prints
every member whose count matches, with its layer count (Conv2D + MaxPooling2D + Dense, Flatten not
counted):

- input 32x32x3; 1-6 convolutions, all 3x3 or all 5x5, all 'valid' or all 'same';
- filters from 16, 32, 64, 128, 256, 512, never fewer than the previous convolution;
- a 2x2 max-pool may follow any convolution;
- 0-2 hidden dense layers of 32 ... 2048 units, then a dense layer of 10.

    python scripts/cifar_param_search.py            # all three targets
    python scripts/cifar_param_search.py 193034     # one target
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

TARGETS = (193_034, 686_090, 1_055_466)
FILTERS = (16, 32, 64, 128, 256, 512)
DENSE = (32, 64, 128, 256, 512, 1024, 2048)


def stacks(n_left: int, prev: int, stack: tuple) -> Iterator[tuple]:
    """Conv/pool sequences: ints are convolutions (filters), "p" a 2x2 max-pool."""
    if stack:
        yield stack
    if n_left == 0:
        return
    for f in FILTERS:
        if f >= prev:
            yield from stacks(n_left - 1, f, stack + (f,))
    if stack and stack[-1] != "p":
        yield from stacks(n_left, prev, stack + ("p",))


def conv_params(stack: tuple, k: int, padding: str) -> tuple[int, int] | None:
    """(parameters, flattened width) of `stack` on 32x32x3, or None if the map vanishes."""
    side, channels, params = 32, 3, 0
    for item in stack:
        if item == "p":
            side //= 2
        else:
            params += k * k * channels * item + item
            channels = item
            side -= (k - 1) if padding == "valid" else 0
        if side < 1:
            return None
    return params, side * side * channels


def matches(targets: tuple[int, ...]) -> Iterator[tuple]:
    for k, padding in itertools.product((3, 5), ("valid", "same")):
        for stack in stacks(6, 0, ()):
            conv = conv_params(stack, k, padding)
            if conv is None:
                continue
            for n_dense in range(3):
                for hidden in itertools.product(DENSE, repeat=n_dense):
                    params, width = conv
                    for units in (*hidden, 10):
                        params, width = params + width * units + units, units
                    if params in targets:
                        yield params, len(stack) + n_dense + 1, k, padding, stack, hidden


def describe(k: int, padding: str, stack: tuple, hidden: tuple) -> str:
    convs = " ".join("pool" if s == "p" else f"conv{k}x{k}x{s}" for s in stack)
    dense = " ".join(f"dense{u}" for u in (*hidden, 10))
    return f"{padding:5}  {convs}  {dense}"


def main(argv: list[str]) -> int:
    targets = tuple(int(a.replace(",", "")) for a in argv) or TARGETS
    found = sorted(matches(targets), key=lambda m: (m[0], m[1]))
    for target in targets:
        rows = [m for m in found if m[0] == target]
        print(f"{target:,} parameters: {len(rows)} nets in the family")
        for _, n_layers, k, padding, stack, hidden in rows:
            print(f"  {n_layers:2} layers  {describe(k, padding, stack, hidden)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
