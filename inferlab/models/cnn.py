"""The digits CNN in NumPy, on inferlab.ops (conv2d by im2col + matmul, max_pool2d, linear).

    >>> model = load()                          # 13 706 parameters
    >>> logits = model(x)                       # x (N, 1, 8, 8) float32, pixels / 16 -> (N, 10)

    (N, 1, 8, 8) -conv1 3x3 pad 1, ReLU, max-pool 2-> (N, 16, 4, 4)
                 -conv2 3x3 pad 1, ReLU, max-pool 2-> (N, 32, 2, 2) -flatten-> (N, 128)
                 -fc1, ReLU-> (N, 64) -fc2-> (N, 10)

Weights (``datasets/weights/cnn.npz``, torch ``state_dict`` names): ``conv1.weight`` (16, 1, 3, 3),
``conv1.bias``, ``conv2.weight`` (32, 16, 3, 3), ``conv2.bias``, ``fc1.weight`` (64, 128),
``fc1.bias``, ``fc2.weight`` (10, 64), ``fc2.bias``; ``config.channels``, ``config.hidden``.
Same computation as :class:`inferlab.reference.digits.CNN`; 98.6 % test accuracy.
"""

from __future__ import annotations

import numpy as np

from inferlab import data, ops
from inferlab.errors import InferlabError
from inferlab.models.mlp import check_input

__all__ = ["CNN", "load"]

NAMES = ("conv1", "conv2", "fc1", "fc2")


class CNN:
    """Two Conv-ReLU-MaxPool stages, then a two-layer MLP head."""

    def __init__(self, weights: dict[str, np.ndarray]):
        missing = [
            f"{n}.{p}" for n in NAMES for p in ("weight", "bias") if f"{n}.{p}" not in weights
        ]
        if missing:
            raise InferlabError(f"CNN weights: missing {missing}")
        self.weights = {
            k: weights[k] for k in (f"{n}.{p}" for n in NAMES for p in ("weight", "bias"))
        }
        self.in_channels = self.weights["conv1.weight"].shape[1]

    @property
    def n_params(self) -> int:
        return sum(v.size for v in self.weights.values())

    def __call__(self, x) -> np.ndarray:
        """x (N, 1, 8, 8) float -> logits (N, 10)."""
        hint = "; add the channel axis with x[:, None]" if np.ndim(x) == 3 else ""
        x = check_input(x, (self.in_channels, 8, 8), "CNN", hint)
        w = self.weights
        h = ops.conv2d(x, w["conv1.weight"], w["conv1.bias"], padding=1)
        h = ops.max_pool2d(ops.relu(h), 2)
        h = ops.conv2d(h, w["conv2.weight"], w["conv2.bias"], padding=1)
        h = ops.max_pool2d(ops.relu(h), 2)
        h = h.reshape(len(h), -1)  # flatten in (C, H, W) order, like torch.flatten(x, 1)
        h = ops.relu(ops.linear(h, w["fc1.weight"], w["fc1.bias"]))
        return ops.linear(h, w["fc2.weight"], w["fc2.bias"])

    def predict(self, x) -> np.ndarray:
        """The most likely digit of each image, (N,) int64."""
        return self(x).argmax(axis=1)

    def __repr__(self) -> str:
        return f"CNN(params={self.n_params})"


def load(path=None) -> CNN:
    """The shipped CNN (``datasets/weights/cnn.npz``), or the weights file at ``path``."""
    path = data.dataset_path("weights/cnn.npz") if path is None else path
    return CNN(data.load_npz(path))
