"""Exact per-level counts inside a fused group (accelsim.cost.fused_levels): every layer's own inner
mapping on every tile, closed form == the brute-force fused walk (each tile's problem built from
point sets and walked by the general core's interpreter); hand-derived tile problems at the edges."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from accelsim.cost.actions import count_actions
from accelsim.cost.fused import count_group
from accelsim.cost.fused_levels import inner_hierarchy, level_counts, rule_nest, tile_problem
from accelsim.errors import ConfigError
from accelsim.fused import FusedGroup, check_level
from accelsim.hierarchy import Fanout, Hierarchy, Storage
from accelsim.interp_fused import brute_force_levels
from accelsim.names import DRAM, GLB, IFMAP, PSUM, READ, REG, RF, ROLES, UPDATE, WEIGHT
from accelsim.problem import from_layer
from dataflows import registry
from tests.test_fusion import GROUPS, _net


def _hier() -> Hierarchy:
    """dram -> glb -> 2x2 bus -> rf (small: the rules must split) -> reg -> mac."""
    return Hierarchy("tiny", (
        Storage(DRAM, ROLES),
        Storage(GLB, ROLES, ((ROLES, 4096),), fanout=Fanout(2, 2, "bus")),
        Storage(RF, ROLES, (((IFMAP,), 6), ((WEIGHT,), 12), ((PSUM,), 4))),
        Storage(REG, ROLES, (((IFMAP,), 1), ((WEIGHT,), 1), ((PSUM,), 1))),
    ))


@pytest.mark.parametrize("layers", GROUPS)
def test_levels_equal_brute_force_walk(layers):
    graph = _net(N=2)
    h = _hier()
    last = graph.node(layers[-1])
    for flow in ("rs", "os", "ws"):
        nest_for = rule_nest(registry.get(flow))
        for mode, rows, cols, batch in (("recompute", 1, 0, 1), ("keep_h", 2, 1, 2), ("keep", 1, 2, 1)):
            group = FusedGroup(layers, rows=min(rows, last.P), cols=min(cols, last.Q), batch=batch, mode=mode)
            fast = level_counts(group, graph, h, nest_for)
            slow = brute_force_levels(group, graph, h, nest_for)
            counts = count_group(group, graph)
            for lv, c in zip(fast, counts.layers):
                want = slow[lv.name]
                assert {k: v for k, v in lv.actions.storage.items() if v} == \
                    {k: v for k, v in want.storage.items() if v}, (flow, group.text(), lv.name)
                assert {k: v for k, v in lv.actions.network.items() if v} == \
                    {k: v for k, v in want.network.items() if v}, (flow, group.text(), lv.name)
                assert lv.actions.macs == want.macs == c.macs      # recomputation included, as count_group
                assert lv.actions.ops == want.ops, (flow, group.text(), lv.name)   # vector ops per computed point


def test_whole_layer_tile_is_the_layer():
    """One tile covering a whole conv is the layer's own problem: its counts are count_actions'."""
    graph = _net()
    h = _hier()
    inner = inner_hierarchy(h, GLB)
    nest_for = rule_nest(registry.get("rs"))
    c1 = graph.node("c1")
    (lv,) = level_counts(FusedGroup(("c1",), rows=c1.P), graph, h, nest_for)
    problem = from_layer(c1)
    assert lv.tiles == 1 and lv.actions == count_actions(problem, inner, nest_for(problem, inner))


def test_edge_tiles_by_hand():
    """c1: 3x3 pad 1 on 13 x 11 rows; one output row per tile. First row: input rows [0, 2), the
    first tap row padding (offset -1); an inner row 5: rows [4, 7), offset 0; the last row 12:
    rows [11, 13), offset 0 and its third tap row past the input (padding)."""
    c1 = _net().node("c1")
    cols = (0, 11), (0, 11)
    for rows, hull, off in (((0, 1), (0, 2), -1), ((5, 6), (4, 7), 0), ((12, 13), (11, 13), 0)):
        p = tile_problem(c1, 1, rows, cols[0], hull, cols[1])
        row_axis = p.tensor(IFMAP).coords[3]
        assert (row_axis.offset, row_axis.size) == (off, hull[1] - hull[0])
        assert p.size("P") == 1 and p.size("Q") == 11 and p.macs == c1.Cg * c1.K * 11 * 9
    # the tile counts: 13 one-row tiles, 3 distinct problems (first, inner, last) under recompute
    graph = _net()
    (lv,) = level_counts(FusedGroup(("c1",), rows=1, mode="recompute"), graph, _hier(), rule_nest(registry.get("os")))
    assert (lv.tiles, lv.problems) == (13, 3)
    # every real input word reaches the array: input rows read per tile 2 + 11*3 + 2 = 37 rows x 11 x 2 ch
    whole = count_group(FusedGroup(("c1",), rows=1, mode="recompute"), graph)
    assert whole.dram_reads["c1.input"] == 37 * 11 * 2


def test_vector_ops_read_bands_and_write_outputs():
    """p1 (2x2/2 max-pool on 13x11, 3 ch) after c1, tiles of one pool row, keep: the pool reads its
    two input rows (13 rows: the last row is never read), writes 6 rows x 5 x 3 once."""
    graph = _net()
    g = FusedGroup(("c1", "p1"), rows=1, mode="keep")
    lv = level_counts(g, graph, _hier(), rule_nest(registry.get("rs")))[1]
    assert lv.actions.storage == {(GLB, IFMAP, READ): 6 * 2 * 10 * 3, (GLB, PSUM, UPDATE): 6 * 5 * 3}


def test_level_errors_are_one_line():
    with pytest.raises(ConfigError, match="'spad' is not a level of 'tiny'"):
        inner_hierarchy(_hier(), "spad")
    h = _hier()
    g = FusedGroup(("c1", "p1"), rows=1)
    peak = count_group(g, _net()).peak
    check_level(g, h, peak)                                         # glb keeps all, 4096 words
    bad = [(replace(g, level="dram"), "'dram' is not a buffer of 'tiny' (below the backing store, not a register level); allowed: glb, rf"),
           (replace(g, level="reg"), "'reg' is not a buffer of 'tiny'"),
           (replace(g, cores=2), "fuse.cores: 2 cores but 'tiny' has 1 instance(s) of 'glb'"),
           (replace(g, level="rf"), f"needs {peak} words live at its peak, 'rf' holds 22")]
    for group, message in bad:
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_level(group, h, peak)
    no_weights = replace(h, levels=(h.levels[0], replace(h.levels[1], keeps=(IFMAP, PSUM), capacity=())) + h.levels[2:])
    with pytest.raises(ConfigError, match="'glb' does not keep weight; a group's level holds its intermediates"):
        check_level(g, no_weights, peak)


def test_the_walk_catches_a_shifted_tile(monkeypatch):
    """A tile problem whose input offset is one row off (a pad taken at the wrong edge) counts
    differently from the walk: the equality above has teeth."""
    import accelsim.cost.fused_levels as fl

    graph = _net()
    group = FusedGroup(("c1", "p1"), rows=1, mode="recompute")
    nest_for = rule_nest(registry.get("rs"))
    real = fl.tile_problem

    def shifted(layer, images, rows, cols, in_rows, in_cols):
        return real(layer, images, rows, cols, (in_rows[0] + 1, in_rows[1] + 1), in_cols)

    monkeypatch.setattr(fl, "tile_problem", shifted)
    fast = level_counts(group, graph, _hier(), nest_for)[0]
    assert fast.actions.storage != brute_force_levels(group, graph, _hier(), nest_for)["c1"].storage


@pytest.mark.parametrize("layers", GROUPS[:4])
def test_cores_split_rows_into_blocks_like_the_walk(layers):
    """``cores``: contiguous blocks of rows of tiles, each on its own instance, keeping nothing across
    a block boundary: closed form == walk, and kept rows cost more than with one core (the halo
    at each block start is recomputed / fetched again)."""
    from accelsim.interp_fused import brute_force_group

    graph = _net()
    h = _hier()
    nest_for = rule_nest(registry.get("rs"))
    for cores in (2, 3):
        for mode in ("keep", "keep_h", "recompute"):
            group = FusedGroup(layers, rows=1, cols=2, mode=mode, cores=cores)
            counts = count_group(group, graph)
            assert counts == brute_force_group(group, graph), group.text()
            fast = level_counts(group, graph, h, nest_for)
            slow = brute_force_levels(group, graph, h, nest_for)
            for lv in fast:
                assert {k: v for k, v in lv.actions.storage.items() if v} == \
                    {k: v for k, v in slow[lv.name].storage.items() if v}
            one = count_group(replace(group, cores=1), graph)
            if mode == "keep":
                assert counts.macs >= one.macs and counts.dram_words > one.dram_words
            else:
                assert counts.macs == one.macs and counts.dram_words == one.dram_words
