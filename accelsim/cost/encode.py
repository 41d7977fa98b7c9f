"""(layer, mapping) as fixed-shape int64 arrays, the input of the numba cost kernels (fast.py).

Layer: one vector of ``LAYER_LEN`` int64 (``LAYER_FIELDS`` order): the eight loop bounds (DIMS order
N G K C P Q R S, per-group K and C), then stride, dilation, padding and input size of the rows (H)
and of the columns (W), then the layer's MAC count (0 for bandwidth-only kinds, as ``Layer.macs``).

Mapping: a :class:`MappingArrays` of int64 arrays, with a leading batch axis from ``encode_batch``
(a mapping with a per-pass GLB tile, ``Mapping.glb_pass``, is refused: ConfigError):
``factors[5][8]`` (LEVELS x DIMS), ``orders[3][8]`` (dram, glb, rf; dim indices outer -> inner),
and per tensor (ifmap, weight, psum) 0/1 flags ``glb_keep[3]``, ``rf_keep[3]``, ``reg_keep[3]``
(the MAC's operand register / psum accumulator; see accelsim.mapping).

Exact range: the kernels compute in int64. A tile volume summed over refill events is at most the
product of the loop bounds N*G*K*C*P*Q*R*S (each axis term counts at most its tile's p x r pairs),
an overlap or a count (a level gets at most two hops' words, a transfer twice a volume) at most twice
it, and the geometry (offsets, spans) stays below 2**35; so a layer is accepted when
N*G*K*C*P*Q*R*S <= 2**60 (every count < 2**62) and each of its sixteen integers is < 2**31;
``encode_layer`` raises ConfigError outside that range (use accelsim.cost.counts.count, which uses
Python's unbounded ints). The mapping-side conditions (factors >= 1, no over-tiling, dims covered,
orders are permutations) are checked by the kernel, which refuses a mapping that breaks them.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence

import numpy as np

from accelsim.errors import ConfigError
from accelsim.mapping import Mapping
from workloads.layer import DIMS, Layer

LAYER_FIELDS: tuple[str, ...] = DIMS + ("stride_h", "dil_h", "pad_h", "H", "stride_w", "dil_w", "pad_w", "W",
                                        "macs")
LAYER_LEN = len(LAYER_FIELDS)          # 17
SCALAR_LIMIT = 1 << 31                 # every layer integer must be below this
PRODUCT_LIMIT = 1 << 60                # N*G*K*C*P*Q*R*S must not exceed this


class MappingArrays(namedtuple("MappingArrays", "factors orders glb_keep rf_keep reg_keep")):
    """A mapping (or, with a leading batch axis, many) as int64 arrays: factors (..., 5, 8),
    orders (..., 3, 8), glb_keep / rf_keep / reg_keep (..., 3) of 0/1.

    ``len()`` is the number of mappings (1 without a batch axis), not the number of fields."""

    __slots__ = ()

    def __len__(self) -> int:
        return int(self.factors.shape[0]) if self.factors.ndim == 3 else 1

    @classmethod
    def _make(cls, iterable):      # namedtuple's own (used by _replace) checks len() == 5
        return tuple.__new__(cls, iterable)


def encode_layer(layer: Layer) -> np.ndarray:
    """The layer vector (``LAYER_FIELDS`` order). Raises ConfigError outside the exact int64 range."""
    values = list(layer.dims) + [layer.stride_h, layer.dil_h, layer.pad_h, layer.H,
                                 layer.stride_w, layer.dil_w, layer.pad_w, layer.W]
    for name, v in zip(LAYER_FIELDS, values):
        if v >= SCALAR_LIMIT:
            raise ConfigError(f"layer {layer.name!r}: {name}={v} is too large for the int64 cost kernel "
                              f"(allowed < 2**31); use accelsim.cost.counts.count")
    product = 1
    for v in layer.dims:
        product *= v
    if product > PRODUCT_LIMIT:
        raise ConfigError(f"layer {layer.name!r}: N*G*K*C*P*Q*R*S = {product} exceeds the int64 cost "
                          f"kernel's exact range (allowed <= 2**60); use accelsim.cost.counts.count")
    return np.array(values + [layer.macs], dtype=np.int64)


def _flags(rows) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def encode_batch(layer: Layer, mappings: Sequence[Mapping]) -> tuple[np.ndarray, MappingArrays]:
    """(layer vector, MappingArrays with a leading batch axis of len(mappings))."""
    lay = encode_layer(layer)
    n = len(mappings)
    if any(any(m.glb_pass) for m in mappings):
        raise ConfigError(f"layer {layer.name!r}: a mapping with a per-pass GLB tile (glb.per_pass) is counted by "
                          f"accelsim.cost.counts.count only, not the int64 kernel")
    try:
        factors = np.array([m.factors for m in mappings], dtype=np.int64).reshape(n, 5, 8)
        orders = np.array([m.orders for m in mappings], dtype=np.int64).reshape(n, 3, 8)
    except (ValueError, OverflowError) as exc:
        raise ConfigError(f"layer {layer.name!r}: a mapping's factors must be 5 x 8 and its orders 3 x 8 "
                          f"integers below 2**63 ({exc})") from None
    arrays = MappingArrays(factors, orders, _flags([m.glb_keep for m in mappings]),
                           _flags([m.rf_keep for m in mappings]), _flags([m.reg_keep for m in mappings]))
    return lay, arrays


def encode(layer: Layer, mapping: Mapping) -> tuple[np.ndarray, MappingArrays]:
    """(layer vector, MappingArrays of one mapping, no batch axis)."""
    lay, batch = encode_batch(layer, [mapping])
    return lay, MappingArrays(*(a[0] for a in batch))


def stack(items: Sequence[MappingArrays]) -> MappingArrays:
    """Single encoded mappings (no batch axis) -> one batch."""
    return MappingArrays(*(np.stack([getattr(it, f) for it in items]).astype(np.int64, copy=False)
                           for f in MappingArrays._fields))


def decode(batch: MappingArrays, i: int | None = None) -> Mapping:
    """Back to a Mapping: item ``i`` of a batch, or the single mapping when ``i`` is None."""
    arr = batch if i is None else MappingArrays(*(a[i] for a in batch))
    return Mapping(tuple(tuple(int(x) for x in row) for row in arr.factors),
                   tuple(tuple(int(x) for x in row) for row in arr.orders),
                   tuple(bool(x) for x in arr.glb_keep), tuple(bool(x) for x in arr.rf_keep),
                   tuple(bool(x) for x in arr.reg_keep))
