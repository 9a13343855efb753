"""Small vectorised helpers over Arrow arrays (no per-row Python)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STRING = pa.string()


def join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate strings element-wise; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def lpad_int(values: np.ndarray, width: int) -> pa.Array:
    """Integers as zero-padded decimal strings."""
    return pc.utf8_lpad(
        pa.array(np.asarray(values, dtype=np.int64)).cast(STRING), width, padding="0"
    )


def int_str(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(STRING)


def pick(index: np.ndarray, options: list[pa.Array | str | None]) -> pa.Array:
    """Element i is ``options[index[i]][i]`` (options: arrays of equal length, strings or None)."""
    n = len(index)
    result = _as_array(options[0], n)
    for k in range(1, len(options)):
        mask = index == k
        if mask.any():
            value = (
                options[k] if isinstance(options[k], pa.Array) else pa.scalar(options[k], STRING)
            )
            result = pc.if_else(pa.array(mask), value, result)
    return result


def _as_array(value: pa.Array | str | None, n: int) -> pa.Array:
    if isinstance(value, pa.Array):
        return value
    if value is None:
        return pa.nulls(n, STRING)
    return pa.repeat(pa.scalar(value, STRING), n)


def null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """Set values to null where mask is true."""
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def where(mask: np.ndarray, a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), a, b)


def scatter(n: int, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """Length-n array, null except at mask, which takes ``values`` in order."""
    return pc.replace_with_mask(pa.nulls(n, values.type), pa.array(mask), values)


def replace_at(base: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``base`` with the masked positions replaced by ``values`` (one per true)."""
    if not mask.any():
        return base
    return pc.replace_with_mask(base, pa.array(mask), values)


def money(cents: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Integer cents as decimal128(18, 2): exact, and prints as 12.30."""
    c = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(c), 2), dtype=np.int64)
    words[:, 0] = c
    words[:, 1] = c >> 63  # sign extension of the 128-bit integer
    validity = None
    if null is not None and null.any():
        validity = pa.array(~null).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(c), [validity, pa.py_buffer(words)])


def timestamps(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as timestamp[us, UTC]."""
    us = np.asarray(seconds, dtype=np.int64) * 1_000_000
    return pa.array(
        us, pa.timestamp("us", tz="UTC"), mask=null if null is not None and null.any() else None
    )


def dates(days: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Days since 1970-01-01 as date32."""
    return pa.array(
        np.asarray(days, dtype=np.int32),
        pa.date32(),
        mask=null if null is not None and null.any() else None,
    )


def bools(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(
        np.asarray(values, dtype=bool),
        pa.bool_(),
        mask=null if null is not None and null.any() else None,
    )
