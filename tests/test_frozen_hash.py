"""accelsim.frozen_hash: a frozen dataclass's hash computed once, equal to the hash of its fields, never
pickled (string hashes differ between processes)."""

from __future__ import annotations

import pickle
from dataclasses import replace

from accelsim.problem import from_layer
from accelsim.sparse.formats import Format, Rank
from workloads.layer import conv


def test_equal_objects_hash_as_their_fields_and_the_hash_is_kept():
    p = from_layer(conv("c", C=4, K=8, H=6, R=3, pad=1))
    q = replace(p)                                 # an equal, distinct object
    assert p is not q and p == q
    assert hash(p) == hash(q) == hash((p.name, p.dims, p.tensors, p.source))
    assert p.__dict__["_hash"] == hash(p)
    c = p.tensors[0].coords[0]
    assert hash(c) == hash((c.terms, c.offset, c.size))
    f = Format((Rank("UOP", 4), Rank("CP", 4)))
    assert hash(f) == hash((f.ranks, f.packing, f.adaptive, f.inner, f.perm))
    g = replace(f, perm=(1, 0))                    # a new object: its own hash, from its own fields
    assert g != f and hash(g) == hash((g.ranks, g.packing, g.adaptive, g.inner, (1, 0)))


def test_the_kept_hash_is_not_pickled():
    p = from_layer(conv("c", C=4, K=8, H=6, R=3, pad=1))
    hash(p)
    assert "_hash" not in p.__getstate__()
    r = pickle.loads(pickle.dumps(p))
    assert r == p and "_hash" not in r.__dict__ and hash(r) == hash(p)
