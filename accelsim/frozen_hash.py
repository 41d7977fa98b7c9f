"""A frozen dataclass's hash, computed once per object.

A frozen dataclass's generated ``__hash__`` walks every field on every call; a spec object that keys
memoised functions thousands of times a search (a ``Problem``, its axes, a compressed ``Format``) pays
that walk each time. A class opts in with ``__hash__ = cached_hash`` and ``__getstate__ = hashless_state``
in its body (the dataclass decorator keeps an explicit ``__hash__``).

Invariants: the value is the hash of the tuple of the fields that take part in equality, so equal objects
hash equal; it is kept in the instance's ``__dict__`` (not a field: equality, ``repr`` and
``dataclasses.replace`` ignore it) and never pickled, since string hashes differ between processes.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def cached_hash(self: Any) -> int:
    h = self.__dict__.get("_hash")
    if h is None:
        h = hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare))
        object.__setattr__(self, "_hash", h)
    return h


def hashless_state(self: Any) -> dict:
    return {k: v for k, v in self.__dict__.items() if k != "_hash"}


__all__ = ["cached_hash", "hashless_state"]
