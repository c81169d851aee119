"""Numbers of the contract (SPEC.md) that the runner and the tests check against, written once."""

# SPEC.md §3: the least MNIST test accuracy a row reaches with the defaults. Set from the measured
# spread of correct rows over seeds, kernel families and thread counts: results/accuracy.md.
ACCURACY_BAR = 0.965

# The arithmetic of one training example (SPEC.md §2's network, §3's step), counted as its matrix
# products, 2·m·n·k FLOP each, the way GEMM throughput is counted: the forward pass, the weight
# gradients (the same products again) and the input gradients of fc2 and fc3 (fc1's input needs
# none). Biases, ReLU, softmax and the SGD update add under 1 % and are left out.
LAYERS = ((784, 512), (512, 512), (512, 10))  # (in, out) of fc1, fc2, fc3
FORWARD_FLOP = sum(2 * fan_in * fan_out for fan_in, fan_out in LAYERS)  # 1,337,344
WEIGHT_GRADIENT_FLOP = FORWARD_FLOP  # 1,337,344
INPUT_GRADIENT_FLOP = sum(2 * fan_in * fan_out for fan_in, fan_out in LAYERS[1:])  # 534,528
TRAIN_FLOP_PER_EXAMPLE = FORWARD_FLOP + WEIGHT_GRADIENT_FLOP + INPUT_GRADIENT_FLOP  # 3,209,216


def train_gflop(examples: int) -> float:
    """GFLOP of training on `examples` examples (an epoch of the default 50,000 is 160.46); of a rate in
    examples per second, GFLOP per second."""
    return TRAIN_FLOP_PER_EXAMPLE * examples / 1e9
