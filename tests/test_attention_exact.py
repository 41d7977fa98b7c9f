"""The attention dataflows' closed form (accelsim.attention.model) against the brute-force walk and
functional mode (accelsim.attention.interp): op counts and DRAM words exact, outputs equal NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.attention.cascade import ARRAY, VECTOR, AttentionShape
from accelsim.attention.interp import reference, walk
from accelsim.attention.model import DATAFLOWS, _unit, fusemax, machine
from accelsim.errors import ConfigError
from accelsim.hierarchy import FLAT_TENSORS, Fanout, FlatSetting, Hierarchy, Storage, Vector
from accelsim.names import ROLES


def small_arch(buffer_words: int | None, vector: bool = True, side: int = 4, flat: FlatSetting | None = None,
               y: int | None = None) -> Hierarchy:
    cap = ((ROLES, buffer_words),) if buffer_words else ()
    return Hierarchy("small", (
        Storage("dram", ROLES, read_bandwidth=2.0, write_bandwidth=2.0),
        Storage("buffer", ROLES, cap, fanout=Fanout(side, side if y is None else y, "bus")),
        Storage("reg", ROLES, tuple(((r,), 1) for r in ROLES))),
        clock_mhz=100.0, vector=Vector("vec", 2, "buffer") if vector else None, dataflow="ws",
        flat=flat or FlatSetting())


def _inputs(s: AttentionShape, seed: int):
    rng = np.random.default_rng(seed)
    n = s.batch * s.heads
    return (rng.standard_normal((n, s.queries, s.e)), rng.standard_normal((n, s.keys, s.e)),
            rng.standard_normal((n, s.keys, s.f)))


def _by_unit(h, ops_by_kind: dict) -> dict:
    m = machine(h)
    out: dict = {}
    for (kind, op), n in ops_by_kind.items():
        key = (_unit(m, kind)[0], op)
        out[key] = out.get(key, 0) + n
    return out


shapes = st.builds(AttentionShape, st.integers(1, 2), st.integers(1, 2), st.integers(1, 6),
                   st.sampled_from([1, 2, 4, 5, 6, 7, 8]), st.integers(1, 3), st.integers(1, 3))


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(list(DATAFLOWS)), st.sampled_from([None, 40, 60, 120, 400]), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_closed_form_equals_walk(s, dataflow, buf, vec, seed):
    h = small_arch(buf, vec)
    try:
        res = DATAFLOWS[dataflow](h, s)
    except ConfigError as e:            # a row tile that cannot fit: the message names the buffer
        assert "buffer holds" in str(e)
        return
    q, k, v = _inputs(s, seed)
    ops, dram, out = walk(s, dataflow, res.plan, q, k, v)
    assert _by_unit(h, ops) == res.ops
    assert dram == res.dram
    np.testing.assert_allclose(out, reference(q, k, v), rtol=1e-10, atol=1e-12)


settings_ = st.one_of(
    st.builds(FlatSetting, st.just("head"), st.none(), st.sets(st.sampled_from(FLAT_TENSORS)).map(tuple)),
    st.builds(FlatSetting, st.just("row"), st.one_of(st.none(), st.integers(1, 7)),
              st.sets(st.sampled_from(FLAT_TENSORS)).map(tuple)))


@settings(max_examples=40, deadline=None)
@given(shapes, settings_, st.sampled_from([None, 40, 60, 120, 400]), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**31 - 1))
def test_flat_setting_equals_walk(s, setting, buf, x, y, seed):
    """Every FLAT setting (granularity, rows, on-chip tensors) on an x-by-y array: the closed form's op
    counts and DRAM words equal the walk's, which evicts the off-chip tensors at every array pass."""
    h = small_arch(buf, side=x, y=y, flat=setting)
    try:
        res = DATAFLOWS["flat"](h, s)
    except ConfigError as e:
        assert "buffer holds" in str(e)
        return
    assert (res.plan.pass_rows, res.plan.pass_cols, res.plan.onchip) == (y, x, setting.onchip)
    q, k, v = _inputs(s, seed)
    ops, dram, out = walk(s, "flat", res.plan, q, k, v)
    assert _by_unit(h, ops) == res.ops
    assert dram == res.dram
    np.testing.assert_allclose(out, reference(q, k, v), rtol=1e-10, atol=1e-12)


def test_flat_offchip_passes_by_hand():
    """6 query rows, 8 keys, E = F = 2 on a 4-wide (x: keys, F), 3-high (y: query rows) array, head
    granularity, nothing but the scores on chip: Q (12 words) once per pass over 4 keys: 2 x 12; K
    and V (16 words each) once per pass over 3 query rows: 2 x 16; O (12 words) written once.
    With Q and O on chip (row granularity, 4 rows): Q once; K, V: passes of 3 + 1 rows over two row
    tiles of 4 and 2 rows: (2 + 1) x 16."""
    s = AttentionShape(1, 1, 6, 8, 2, 2)
    res = DATAFLOWS["flat"](small_arch(None, side=4, y=3, flat=FlatSetting("head", None, ())), s)
    assert res.dram == {("Q", "read"): 24, ("K", "read"): 32, ("V", "read"): 32, ("O", "write"): 12}
    assert (res.plan.rows, res.plan.granularity, res.plan.buffer_words) == (6, "head", 6 * 8)
    res = DATAFLOWS["flat"](small_arch(None, side=4, y=3, flat=FlatSetting("row", 4, ("Q", "O"))), s)
    assert res.dram == {("Q", "read"): 12, ("K", "read"): 48, ("V", "read"): 48, ("O", "write"): 12}
    assert (res.plan.rows, res.plan.granularity, res.plan.buffer_words) == (4, "row", 4 * (2 + 8 + 2))


def test_flat_head_granularity_falls_back_to_rows():
    """A head whose score matrix does not fit: row granularity, the most rows that fit (8 keys per
    row, 50 words: 6 rows of 8 queries); rows given that do not fit are one line."""
    s = AttentionShape(1, 1, 8, 8, 2, 2)
    res = DATAFLOWS["flat"](small_arch(50, flat=FlatSetting("head", None, ())), s)
    assert (res.plan.rows, res.plan.granularity) == (6, "head")       # what was asked; the fallback said
    assert res.plan.fallback.startswith("head granularity: a head's 8 query rows need 64 words on chip")
    res = DATAFLOWS["flat"](small_arch(None, flat=FlatSetting("row", 9, ())), s)     # rows >= M: still "row"
    assert (res.plan.rows, res.plan.granularity, res.plan.fallback) == (8, "row", "")
    with pytest.raises(ConfigError, match="7 rows need 56 words, the buffer holds 50") as e:
        DATAFLOWS["flat"](small_arch(50, flat=FlatSetting("row", 7, ())), s)
    assert "\n" not in str(e.value)


def test_vector_bound_cascade_counts_on_the_vector_unit():
    s = AttentionShape(1, 2, 4, 8, 3, 2)
    h = small_arch(200)
    res = fusemax(h, s, element_unit=VECTOR)
    ops, dram, out = walk(s, "fusemax", res.plan, *_inputs(s, 1), element_unit=VECTOR)
    assert _by_unit(h, ops) == res.ops
    assert dram == res.dram
    # per score element: max, exp, sum on the vector unit; 2*4*8 scores
    assert res.ops[("vec", "exp")] == 64 + 2 * 4 * (8 // res.plan.tile)


def test_published_cascade_counts_by_hand():
    """Counts written from the cascade's definition for one small case (not from the code)."""
    s = AttentionShape(1, 1, 2, 4, 3, 2)
    h = small_arch(None, side=2)     # array width 2 -> key tile 2, two tiles
    res = fusemax(h, s)
    assert res.plan.tile == 2
    rows, tiles = 2, 2
    assert res.ops == {("mac", "mac"): 2 * 4 * (3 + 2), ("mac", "max"): 8, ("mac", "exp"): 8, ("mac", "sum"): 8,
                       ("vec", "max"): rows * tiles, ("vec", "exp"): rows * tiles,
                       ("vec", "fma"): rows * tiles * (1 + 2), ("vec", "divide"): rows * 2}
    assert res.dram == {("Q", "read"): 6, ("K", "read"): 12, ("V", "read"): 8, ("O", "write"): 4}


def test_ragged_last_key_tile_counts_by_hand():
    """L = 7 keys on a 4-wide array: one full tile of 4 keys and a ragged tile of 3 (not 7 one-key
    tiles, as the largest divisor of 7 up to 4 would give); counts written from the cascade."""
    s = AttentionShape(1, 1, 2, 7, 3, 2)
    res = fusemax(small_arch(None), s)
    assert res.plan.tile == 4
    rows, tiles, scores = 2, 2, 2 * 7
    assert res.ops == {("mac", "mac"): scores * (3 + 2), ("mac", "max"): scores, ("mac", "exp"): scores,
                       ("mac", "sum"): scores, ("vec", "max"): rows * tiles, ("vec", "exp"): rows * tiles,
                       ("vec", "fma"): rows * tiles * (1 + 2), ("vec", "divide"): rows * 2}
    ops, dram, out = walk(s, "fusemax", res.plan, *_inputs(s, 3))
    assert _by_unit(small_arch(None), ops) == res.ops and dram == res.dram
    np.testing.assert_allclose(out, reference(*_inputs(s, 3)), rtol=1e-10, atol=1e-12)


def test_streamed_kv_reread_per_row_tile():
    s = AttentionShape(1, 1, 6, 8, 2, 2)
    # flat: per row 2 + 8 + 2 = 12 words; K,V all = 32 words; tile 4 keys = 16 words
    res = DATAFLOWS["flat"](small_arch(40), s)
    assert (res.plan.kv_resident, res.plan.rows) == (False, 2)       # (40 - 16) // 12 = 2 rows
    assert res.dram[("K", "read")] == 8 * 2 * 3                       # three row tiles
    res = DATAFLOWS["flat"](small_arch(60), s)
    assert (res.plan.kv_resident, res.plan.rows) == (True, 2)        # (60 - 32) // 12 = 2 rows
    assert res.dram[("K", "read")] == 16


def test_row_that_cannot_fit_is_one_line():
    with pytest.raises(ConfigError, match="buffer holds 20") as e:
        DATAFLOWS["flat"](small_arch(20), AttentionShape(1, 1, 2, 8, 2, 2))
    assert "\n" not in str(e.value)


def test_array_ops_share_the_array_without_a_vector_unit():
    s = AttentionShape(1, 1, 4, 8, 2, 2)
    res = DATAFLOWS["flat"](small_arch(None, vector=False), s)
    # 16 PEs: 4*8*4 MACs + 4 softmax ops per score on the same array
    assert res.phases[0].work["mac"] == (4 * 8 * 4 + 4 * 4 * 8, 16)
    assert res.busy()["mac"] == (128 + 128) // 16
    assert ARRAY != VECTOR


@settings(max_examples=25, deadline=None)
@given(shapes, st.sampled_from(list(DATAFLOWS)), st.sampled_from([None, 60, 400]), st.booleans(), settings_)
def test_tile_simulation_does_the_closed_forms_work(s, dataflow, buf, vec, setting):
    from accelsim.sim.attention_tiles import simulate

    h = small_arch(buf, vec, flat=setting)
    try:
        res = DATAFLOWS[dataflow](h, s)
    except ConfigError:
        return
    sim = simulate(res)
    bound_work = {}
    for p in res.phases:
        for r, (w, _) in p.work.items():
            bound_work[r] = bound_work.get(r, 0) + w
    assert sim.work == bound_work
    assert sim.cycles >= res.cycles
