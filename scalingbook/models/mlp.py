"""A plain multilayer perceptron for scalar regression: the student in teacher-student sweeps.

    x (n, input_dim) -> [Linear -> activation] x depth -> Linear -> y (n,)

Every hidden layer has ``width`` units. The variant switches are arguments, not subclasses:
``depth`` (hidden layers) and ``activation`` ("tanh", "relu" or "gelu").

Initialization is explicit and seeded: hidden weights N(0, 1/fan_in) (so pre-activations
start at unit scale), biases zero, and the *output layer zero*. A zero output layer makes the
untrained network predict exactly 0, the best guess for our zero-mean tasks; a learning curve
then starts at the best-guess error instead of at a random function's (larger) error, and
early stopping can never pick a model worse than the best guess by more than validation noise.
"""

from __future__ import annotations

import torch
from torch import nn

from scalingbook._validate import one_of, positive_int

__all__ = ["MLP", "ACTIVATIONS"]

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class MLP(nn.Module):
    """Fully connected regressor.

    Parameters
    ----------
    input_dim : int
        Features per example.
    width : int
        Units in every hidden layer.
    depth : int
        Number of hidden layers (default 1).
    activation : {"tanh", "relu", "gelu"}
        Nonlinearity after each hidden layer. All three map 0 to 0.
    seed : int
        Seeds the initialization (a private ``torch.Generator``; global RNG untouched).

    ``forward`` maps float32 inputs of shape (n, input_dim) to predictions of shape (n,).
    """

    def __init__(self, input_dim: int, width: int, depth: int = 1, activation: str = "tanh",
                 seed: int = 0) -> None:
        super().__init__()
        self.input_dim = positive_int("input_dim", input_dim)
        self.width = positive_int("width", width)
        self.depth = positive_int("depth", depth)
        self.activation = one_of("activation", activation, tuple(ACTIVATIONS))
        self.seed = positive_int("seed", seed, minimum=0)

        fan_ins = [self.input_dim] + [self.width] * (self.depth - 1)
        self.hidden = nn.ModuleList(nn.Linear(f, self.width) for f in fan_ins)
        self.act = ACTIVATIONS[self.activation]()
        self.out = nn.Linear(self.width, 1)

        gen = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for layer, fan_in in zip(self.hidden, fan_ins):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) / fan_in**0.5)
                layer.bias.zero_()
            self.out.weight.zero_()
            self.out.bias.zero_()

    @property
    def n_params(self) -> int:
        """Trainable parameters (weights and biases)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"x must have shape (n, {self.input_dim}), got {tuple(x.shape)}")
        h = x
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.out(h).squeeze(-1)

    def extra_repr(self) -> str:
        return f"n_params={self.n_params}, seed={self.seed}"
