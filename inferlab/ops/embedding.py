"""Embedding lookup: token ids -> vectors, like ``torch.nn.functional.embedding``.

The first layer of every language model: row ``ids[...]`` of a (V, D) table, V the vocabulary
size and D the model width. No arithmetic at all, only memory reads, which is why its cost is
all bytes.
"""

from __future__ import annotations

import numpy as np

from inferlab.errors import DTypeError, InvalidValueError, ShapeError
from inferlab.ops._validate import as_float, as_shape, check_ndim
from inferlab.ops.cost import Cost, numel


def embedding(ids, table) -> np.ndarray:
    """Rows of ``table`` picked by ``ids``: ids (any shape, integers) -> ids.shape + (D,).

    table: (V, D). Every id must be in [0, V) (InvalidValueError otherwise; torch raises too).
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise DTypeError(
            f"embedding needs integer ids (token indices); got array of shape {ids.shape} and "
            f"dtype {ids.dtype}; convert with ids.astype(np.int64)"
        )
    table = as_float(table, "embedding", "table")
    check_ndim(table, 2, "embedding", "table", "(V, D)")
    vocab = table.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise InvalidValueError(
            f"embedding needs ids in [0, {vocab}) for a table of shape {table.shape}; "
            f"got ids from {ids.min()} to {ids.max()}"
        )
    return np.take(table, ids, axis=0)  # one gather: (*ids.shape, D), a new array


def embedding_cost(ids_shape, table_shape, itemsize: int = 4) -> Cost:
    """Cost of ``embedding``: pure data movement.

    flops = 0;  bytes = 2 * n * D * itemsize + 8 * n   (n ids: read n rows, write them,
    read the int64 ids)
    """
    n = numel(as_shape(ids_shape, "embedding_cost", "ids_shape"))
    table_shape = as_shape(table_shape, "embedding_cost", "table_shape")
    if len(table_shape) != 2:
        raise ShapeError(f"embedding_cost needs table_shape (V, D); got {table_shape}")
    return Cost(0, 2 * n * table_shape[1] * itemsize + 8 * n)
