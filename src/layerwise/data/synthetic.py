"""Seeded synthetic datasets, usable by name like any other (`random-binary:n=100,visible=64`).

* `regression`: N points x ~ U(xmin, xmax), y = sum_j a_j x^j + noise (the course's eq. 1),
  fitted by minimising the mean squared error (eq. 2).
* `lab4`: the four points of the course's Lab 4 and 5, x = [1, 2, 3, 4], y = [0, -1, -2, -3];
  evaluation on the course's Lab 5 points x = [2, 5, 8, 1], y = [-1.01, -4.1, -7, 0].
* `random-binary`: N vectors of V independent Bernoulli(p) bits, the RBM report's benchmark data
  (N = V = 8,000 by default).
"""

from __future__ import annotations

import math

import torch

from layerwise.errors import ConfigError
from layerwise.memory import check_fits


def parse_options(spec_options: dict[str, str], given: dict[str, str], name: str) -> dict:
    unknown = set(given) - set(spec_options)
    if unknown:
        raise ConfigError(f"dataset {name} has no option {', '.join(sorted(unknown))}; "
                          f"its options are {', '.join(spec_options) or 'none'}.")
    return given


# Dataset sizes a spec may ask for: a typo of a few zeros should not reach the allocator.
MAX_EXAMPLES, MAX_VISIBLE = 10_000_000, 1_000_000


def _number(options: dict[str, str], key: str, default, kind=float):
    """Option `key` as a finite `kind`; a ConfigError naming the option otherwise."""
    try:
        value = kind(options.get(key, default))
    except ValueError:
        raise ConfigError(f"option {key}={options[key]!r} is not a valid {kind.__name__}.") \
            from None
    if not math.isfinite(value):
        raise ConfigError(f"option {key}={options[key]!r} must be a finite number.")
    return value


def regression(options: dict[str, str], generator: torch.Generator):
    """(x_train, y_train, x_test, y_test), each (N, 1) float32, for the polynomial of eq. 1."""
    n = _number(options, "n", 1000, int)
    try:
        coef = [float(c) for c in str(options.get("coef", "1/-1")).split("/")]
    except ValueError:
        raise ConfigError(f"option coef={options['coef']!r} is not a list of numbers "
                          "separated by '/', e.g. coef=1/-2/0.5.") from None
    if not all(math.isfinite(c) and abs(c) <= 1e6 for c in coef):
        raise ConfigError(f"option coef={options['coef']!r} must hold finite numbers of at "
                          "most 1e6 in size.")
    degree = _number(options, "degree", len(coef) - 1, int)
    if len(coef) != degree + 1:
        raise ConfigError(f"degree {degree} needs {degree + 1} coefficients, got {len(coef)}.")
    noise = _number(options, "noise", 0.1)
    lo, hi = _number(options, "xmin", -1.0), _number(options, "xmax", 1.0)
    if n < 4 or hi <= lo or noise < 0:
        raise ConfigError("regression needs n >= 4, xmax > xmin and noise >= 0.")
    if n > MAX_EXAMPLES or max(abs(lo), abs(hi)) > 1e6 or noise > 1e6:
        raise ConfigError(f"regression takes n <= {MAX_EXAMPLES:,} and xmin, xmax and noise "
                          "of at most 1e6 in size.")
    a = torch.tensor(coef, dtype=torch.float64)

    def draw(m: int):
        x = lo + (hi - lo) * torch.rand(m, 1, generator=generator, dtype=torch.float64)
        powers = x ** torch.arange(degree + 1, dtype=torch.float64)  # (m, degree+1)
        y = powers @ a[:, None] + noise * torch.randn(m, 1, generator=generator,
                                                       dtype=torch.float64)
        return x.float(), y.float()

    return (*draw(n), *draw(max(n // 4, 1)))


def lab4():
    """The course's Lab 4 training points and Lab 5 evaluation points, (N, 1) float32."""
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([[0.0], [-1.0], [-2.0], [-3.0]])
    x_eval = torch.tensor([[2.0], [5.0], [8.0], [1.0]])
    y_eval = torch.tensor([[-1.01], [-4.1], [-7.0], [0.0]])
    return x, y, x_eval, y_eval


def random_binary(options: dict[str, str], generator: torch.Generator):
    """(v_train, v_test): (N, V) and (max(N // 10, 1), V) float32 tensors of 0/1 bits."""
    n = _number(options, "n", 8000, int)
    visible = _number(options, "visible", 8000, int)
    p = _number(options, "p", 0.5)
    if n < 1 or visible < 1 or not 0.0 <= p <= 1.0:
        raise ConfigError("random-binary needs n >= 1, visible >= 1 and 0 <= p <= 1.")
    if n > MAX_EXAMPLES or visible > MAX_VISIBLE:
        raise ConfigError(f"random-binary takes n <= {MAX_EXAMPLES:,} and visible <= "
                          f"{MAX_VISIBLE:,}.")
    check_fits(4 * (n + max(n // 10, 1)) * visible, f"random-binary:n={n},visible={visible}")
    v = (torch.rand(n + max(n // 10, 1), visible, generator=generator) < p).float()
    return v[:n], v[n:]
