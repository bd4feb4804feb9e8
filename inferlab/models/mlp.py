"""The digits MLP in NumPy: Linear-ReLU layers on inferlab.ops; weights: datasets/weights/mlp.npz.

    >>> model = load()                          # 64 -> 128 -> 64 -> 10, 17 226 parameters
    >>> logits = model(x)                       # x (N, 64) float32, pixels / 16 -> (N, 10)
    >>> model.predict(x)                        # (N,) int64 digit per image

The same computation as :class:`inferlab.reference.digits.MLP` (torch), read from the same
arrays: ``layers.<i>.weight`` (out, in) and ``layers.<i>.bias`` (out,), plus ``config.sizes``.
Trained by ``scripts/train_digits.py`` (98 % test accuracy on :func:`inferlab.data.digits_split`).
"""

from __future__ import annotations

import numpy as np

from inferlab import data, ops
from inferlab.errors import DTypeError, InferlabError, ShapeError, describe

__all__ = ["MLP", "check_input", "load"]


def check_input(x, shape: tuple, model: str, hint: str) -> np.ndarray:
    """x as a floating array of shape (N, *shape); a clear InferlabError otherwise."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise DTypeError(
            f"{model} needs floating-point images (pixels / 16, float32); got {describe(x)}; "
            f"convert with x.astype(np.float32) / 16"
        )
    if x.ndim != 1 + len(shape) or x.shape[1:] != shape:
        layout = ", ".join(["N", *map(str, shape)])
        raise ShapeError(f"{model} needs x of shape ({layout}); got {x.shape}{hint}")
    return x


class MLP:
    """A multilayer perceptron: ReLU after every Linear layer but the last."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        n_layers = sum(1 for key in weights if key.endswith(".weight"))
        self.layers = []
        for i in range(n_layers):
            w, b = weights.get(f"layers.{i}.weight"), weights.get(f"layers.{i}.bias")
            if w is None or b is None or w.ndim != 2 or b.shape != w.shape[:1]:
                raise InferlabError(f"MLP weights: layer {i} is missing or malformed")
            if self.layers and w.shape[1] != self.layers[-1][0].shape[0]:
                raise InferlabError(
                    f"MLP weights: layer {i} takes {w.shape[1]} inputs, "
                    f"layer {i - 1} gives {self.layers[-1][0].shape[0]}"
                )
            self.layers.append((w, b))
        self.sizes = (self.layers[0][0].shape[1], *(w.shape[0] for w, _ in self.layers))

    @property
    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in self.layers)

    def __call__(self, x) -> np.ndarray:
        """x (N, 64) float -> logits (N, 10)."""
        hint = "; flatten 8x8 images with x.reshape(len(x), 64)" if np.ndim(x) == 3 else ""
        h = check_input(x, (self.sizes[0],), "MLP", hint)
        for i, (w, b) in enumerate(self.layers):
            h = ops.linear(h, w, b)
            if i < len(self.layers) - 1:
                h = ops.relu(h)
        return h

    def predict(self, x) -> np.ndarray:
        """The most likely digit of each image, (N,) int64."""
        return self(x).argmax(axis=1)

    def __repr__(self) -> str:
        return f"MLP(sizes={self.sizes}, params={self.n_params})"


def load(path=None) -> MLP:
    """The shipped MLP (``datasets/weights/mlp.npz``), or the weights file at ``path``."""
    path = data.dataset_path("weights/mlp.npz") if path is None else path
    arrays = data.load_npz(path)
    return MLP({k: v for k, v in arrays.items() if not k.startswith("config.")})
