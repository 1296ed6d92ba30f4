"""Small torch modules for the flavor tests, in a module of their own so that the class is importable
(the PyTorch flavor stores its import path) and torch is imported only by the tests that use it."""

from __future__ import annotations

import torch


class TwoLayer(torch.nn.Module):
    """A two-layer perceptron: ``inputs`` → ``hidden`` → 2 outputs."""

    def __init__(self, inputs: int, hidden: int = 8) -> None:
        super().__init__()
        self.first = torch.nn.Linear(inputs, hidden)
        self.second = torch.nn.Linear(hidden, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(features)))
