"""torch versions of the digits MLP and CNN: the references inferlab's NumPy models are checked
against, and the code that trains them (``scripts/train_digits.py``).

    >>> model = load_torch("cnn")              # the shipped weights in a torch.nn.Module
    >>> logits = model(torch.from_numpy(x))    # x (N, 1, 8, 8) float32 in [0, 1]

Weights live in ``datasets/weights/{mlp,cnn}.npz`` with torch's ``state_dict`` names (so the
NumPy model and this one read the same arrays) plus ``config.*`` arrays with the layer sizes.
Inputs are pixels / 16, i.e. in [0, 1], as :func:`inferlab.data.digits_split` returns them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inferlab import data
from inferlab.errors import InvalidValueError

WEIGHTS_DIR = data.DATASETS_DIR / "weights"
MLP_SIZES = (64, 128, 64, 10)
CNN_CHANNELS = (1, 16, 32)  # input, conv1, conv2
CNN_HIDDEN = 64


class MLP(nn.Module):
    """(N, 64) -> Linear-ReLU -> ... -> Linear -> (N, 10) logits; sizes e.g. (64, 128, 64, 10)."""

    def __init__(self, sizes=MLP_SIZES):
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def config(self) -> dict:
        return {"sizes": self.sizes}


class CNN(nn.Module):
    """(N, 1, 8, 8) -> [Conv3x3 (pad 1)-ReLU-MaxPool2] x 2 -> Flatten -> Linear-ReLU-Linear.

    Shapes: (N, 1, 8, 8) -> (N, 16, 4, 4) -> (N, 32, 2, 2) -> (N, 128) -> (N, 64) -> (N, 10).
    """

    def __init__(self, channels=CNN_CHANNELS, hidden=CNN_HIDDEN):
        super().__init__()
        c0, c1, c2 = (int(c) for c in channels)
        self.channels, self.hidden = (c0, c1, c2), int(hidden)
        self.conv1 = nn.Conv2d(c0, c1, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(c2 * 2 * 2, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))

    def config(self) -> dict:
        return {"channels": self.channels, "hidden": self.hidden}


def build(name: str, config: dict | None = None) -> nn.Module:
    """A fresh (untrained) "mlp" or "cnn"; config as stored in the weights file."""
    config = config or {}
    if name == "mlp":
        return MLP(**config)
    if name == "cnn":
        return CNN(**config)
    raise InvalidValueError(f"digits models are 'mlp' and 'cnn'; got {name!r}")


def model_inputs(name: str, images: np.ndarray) -> np.ndarray:
    """Images (N, 8, 8) in [0, 1] in the layout a model takes: (N, 64) or (N, 1, 8, 8)."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    return images.reshape(len(images), 64) if name == "mlp" else images[:, None, :, :]


def save(model: nn.Module, name: str, path=None) -> Path:
    """Write a model's weights (fp32, state_dict names) and ``config.*`` arrays as an .npz."""
    path = Path(path) if path is not None else WEIGHTS_DIR / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    for key, value in model.config().items():
        arrays[f"config.{key}"] = np.asarray(value, dtype=np.int64)
    return data.save_npz(path, arrays)


def split_weights(arrays: dict) -> tuple[dict, dict]:
    """(config, weights) from the arrays of a weights file."""
    config = {}
    for key, value in arrays.items():
        if key.startswith("config."):
            config[key[len("config.") :]] = value.tolist()
    weights = {k: v for k, v in arrays.items() if not k.startswith("config.")}
    return config, weights


def load_torch(name: str, path=None) -> nn.Module:
    """The shipped (or given) weights in the torch model, in eval mode."""
    path = data.dataset_path(f"weights/{name}.npz") if path is None else Path(path)
    config, weights = split_weights(data.load_npz(path))
    model = build(name, config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, name: str, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose argmax logit is the label."""
    logits = model(torch.from_numpy(model_inputs(name, images)))
    return float((logits.argmax(1).numpy() == labels).mean())


def train(
    name: str,
    epochs: int = 60,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> tuple[nn.Module, dict]:
    """Train "mlp" or "cnn" on the digits train split with Adam; returns (model, report).

    Seeded (torch.manual_seed + a NumPy generator for the batch order), so a rerun on the same
    machine and torch version gives the same weights. report: seconds, train/test accuracy.
    """
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    split = data.digits_split()
    x = torch.from_numpy(model_inputs(name, split.x_train))
    y = torch.from_numpy(split.y_train)
    model = build(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"train {name}", disable=not progress)
    for _ in bar:
        model.train()
        for batch in np.array_split(rng.permutation(len(y)), max(1, len(y) // batch_size)):
            idx = torch.from_numpy(batch)
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    report = {
        "seconds": time.perf_counter() - start,
        "params": sum(p.numel() for p in model.parameters()),
        "train_accuracy": accuracy(model, name, split.x_train, split.y_train),
        "test_accuracy": accuracy(model, name, split.x_test, split.y_test),
    }
    return model, report
