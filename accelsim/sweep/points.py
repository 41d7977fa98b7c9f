"""The points of a sweep: the cross product of its axis groups, numbered in a fixed order.

Point ``i`` is the mixed-radix number whose digits are the value indices of the groups, the first
group most significant, so a point's number and settings depend only on the sweep file. Points
are generated lazily (a sweep of a million points never sits in memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from accelsim.sweep.spec import SweepSpec, Times, jsonable


@dataclass(frozen=True)
class Point:
    index: int
    coords: tuple[int, ...]                     # value index in each axis group
    axes: tuple[tuple[str, Any], ...]           # the swept settings, as written in the sweep file
    settings: tuple[tuple[str, Any], ...]       # base settings, then the swept ones (later wins)

    @property
    def key(self) -> str:
        """Identity of the point within its sweep (stored with every record, checked on --resume)."""
        return json.dumps([[k, jsonable(v)] for k, v in self.axes], separators=(",", ":"))


def coords_of(index: int, sizes: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for size in reversed(sizes):
        index, digit = divmod(index, size)
        out.append(digit)
    return tuple(reversed(out))


def point(spec: SweepSpec, index: int) -> Point:
    if not 0 <= index < spec.total:
        raise IndexError(index)
    coords = coords_of(index, spec.sizes)
    axes = tuple((k, v) for g, c in zip(spec.groups, coords) for k, v in zip(g.keys, g.values[c]))
    return Point(index, coords, axes, spec.base + axes)


def points(spec: SweepSpec, skip: frozenset[int] | set[int] = frozenset()) -> Iterator[Point]:
    for i in range(spec.total):
        if i not in skip:
            yield point(spec, i)


def label(value: Any) -> Any:
    """How an axis value appears in tables before it is resolved against an arch."""
    if isinstance(value, Times):
        return value.label()
    return list(value) if isinstance(value, tuple) else value
