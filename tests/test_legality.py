"""Typed legality problems (accelsim.legality.Problem): each kind with its fields on a hand-built
mapping, and the kinds select exactly what the old message tests selected (the repair loop of the
mapper and the named-mapping builder branch on kinds now, with the same decisions)."""

from __future__ import annotations

import random

import pytest

from accelsim.arch import arch_from_dict
from accelsim.legality import KINDS, Problem, problems_of
from accelsim.mapper.space import Space
from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping
from workloads.layer import DIMS, Layer

LAYER = Layer("l", N=1, C=4, K=8, H=6, W=6, R=3, S=3)      # P = Q = 4
ORDER = tuple(range(8))


def _arch(rf: dict, glb_kb: float = 1.0, rows: int = 4, cols: int = 4, holds=("ifmap", "weight", "psum")):
    return arch_from_dict({"version": 1, "name": "t", "clock_mhz": 100, "word_bits": 16,
                           "pe_array": {"rows": rows, "cols": cols}, "rf": rf,
                           "glb": {"size_kb": glb_kb, "bandwidth_words_per_cycle": 4, "holds": list(holds)}}, "t")


def _m(levels: dict[int, dict[str, int]], keep_rf=(True, True, True), keep_glb=(True, True, True)) -> Mapping:
    f = [[1] * 8 for _ in range(5)]
    for level, d in levels.items():
        for name, v in d.items():
            f[level][DIMS.index(name)] = v
    # the rest of each dim at DRAM
    for d, D in enumerate(LAYER.dims):
        inner = f[GLB][d] * f[ROWS][d] * f[COLS][d] * f[RF][d]
        if DRAM not in levels or DIMS[d] not in levels[DRAM]:
            f[DRAM][d] = -(-D // inner)
    return Mapping(tuple(tuple(x) for x in f), (ORDER,) * 3, keep_glb, keep_rf)


ROOMY = _arch({"ifmap_words": 64, "weight_words": 64, "psum_words": 64}, glb_kb=64)


def test_a_legal_mapping_has_no_problem():
    assert problems_of(LAYER, _m({RF: {"S": 3}, ROWS: {"R": 3}}), ROOMY) == []


def test_each_kind_with_its_fields():
    # over-tiling: 3 rows of K=8 after an RF factor of 4 covers 12 > 8 with a whole idle step
    m = _m({RF: {"K": 4}, ROWS: {"K": 3}})
    assert Problem("over_tile", "rows factor 3 of K over-tiles it: inner span 4, K=8 needs at most 2",
                   level="rows", dim="K", need=3, limit=2) in problems_of(LAYER, m)
    # not covered: DRAM factor of C given as 1 with nothing inside
    m = _m({DRAM: {"C": 1}})
    assert problems_of(LAYER, m) == [Problem("cover", "factors of C cover 1 < C=4", dim="C", need=4, limit=1)]
    # array: 8 columns on a 4-column array
    m = _m({COLS: {"K": 8}})
    assert problems_of(LAYER, m, ROOMY) == [Problem("array", "cols factors use 8 > 4 PE cols", level="cols",
                                                    need=8, limit=4)]
    # keep: the RF keeps weights on an arch without a weight RF
    no_w = _arch({"ifmap_words": 64, "psum_words": 64}, glb_kb=64)
    assert problems_of(LAYER, _m({}), no_w) == [Problem("keep", "the RF keeps weight but the arch has no RF for it",
                                                        level="rf", tensors=("weight",))]
    # RF capacity: a 3x3 filter window of 4 channels (36 weights) in a 16-word weight RF
    small = _arch({"ifmap_words": 64, "weight_words": 16, "psum_words": 64}, glb_kb=64)
    assert problems_of(LAYER, _m({RF: {"C": 4, "R": 3, "S": 3}}), small) == [
        Problem("rf_capacity", "RF weight tile needs 36 words > 16", level="rf", tensors=("weight",), need=36,
                limit=16)]
    # GLB capacity: the whole layer (ifmap 144 + weights 288 + psums 128 = 560 words) in 512 words
    tiny = _arch({"ifmap_words": 64, "weight_words": 64, "psum_words": 64}, glb_kb=1.0)
    whole = _m({GLB: {"C": 4, "K": 8, "P": 4, "Q": 4, "R": 3, "S": 3}})
    assert problems_of(LAYER, whole, tiny) == [Problem("glb_capacity", "GLB tiles need 560 words > 512", level="glb",
                                                       tensors=("ifmap", "weight", "psum"), need=560, limit=512)]
    # RF bypass: psum not kept per PE, yet K is both spatial and an RF loop
    m = _m({RF: {"K": 2}, ROWS: {"K": 2}}, keep_rf=(True, True, False))
    assert Problem("rf_bypass", "psum bypasses the RF, so K cannot be both spatial and an RF loop", level="rf",
                   dim="K", tensors=("psum",)) in problems_of(LAYER, m)
    # a bad order and a factor below 1
    bad = Mapping(_m({}).factors, ((0, 0, 1, 2, 3, 4, 5, 6), ORDER, ORDER), (True,) * 3, (True,) * 3)
    assert problems_of(LAYER, bad)[0] == Problem("order", "loop order (0, 0, 1, 2, 3, 4, 5, 6) is not a permutation "
                                                          "of the dims", level="dram")
    f = [list(x) for x in _m({}).factors]
    f[GLB][DIMS.index("N")] = 0
    zero = Mapping(tuple(tuple(x) for x in f), (ORDER,) * 3, (True,) * 3, (True,) * 3)
    assert problems_of(LAYER, zero) == [Problem("factor", "glb factor of N must be >= 1, got 0", level="glb",
                                                dim="N", need=0, limit=1)]
    assert str(problems_of(LAYER, zero)[0]) == "glb factor of N must be >= 1, got 0"


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown problem kind 'RF'"):
        Problem("RF", "x")
    assert len(set(KINDS)) == len(KINDS) == 11


@pytest.mark.parametrize("rf", [{"ifmap_words": 4, "weight_words": 8, "psum_words": 4}, {"shared_words": 12}])
def test_kinds_select_what_the_old_message_tests_selected(rf):
    """The mapper's repair loop and the named builder used to test ``startswith("RF")``,
    ``startswith("GLB")`` and ``"bypasses the RF" in``; over many random proposals (raw, before
    repair) the kinds now tested pick the same problems."""
    from dataflows import registry

    arch = _arch(rf, glb_kb=0.5, rows=3, cols=3)
    rng = random.Random(7)
    seen: set[str] = set()
    for flow in ("rs", "ws", "os"):
        space = Space(LAYER, arch, registry.get(flow))
        for _ in range(150):
            f_rf, f_rows, f_cols = rng.choice(space.rf), rng.choice(space.rows), rng.choice(space.cols)
            f_glb = [rng.randint(1, D) for D in LAYER.dims]
            fac = [[-(-D // (f_rf[d] * f_cols[d] * f_rows[d] * f_glb[d])) for d, D in enumerate(LAYER.dims)],
                   f_glb, list(f_rows), list(f_cols), list(f_rf)]
            keep = tuple(tuple(rng.random() < 0.7 for _ in range(3)) for _ in range(2))
            m = Mapping(tuple(tuple(x) for x in fac), (ORDER,) * 3, keep[0], keep[1])
            for p in problems_of(LAYER, m, arch):
                seen.add(p.kind)
                assert (p.kind == "rf_capacity") == p.message.startswith("RF"), p
                assert (p.kind == "glb_capacity") == p.message.startswith("GLB"), p
                assert (p.kind == "rf_bypass") == ("bypasses the RF" in p.message), p
    assert {"rf_capacity", "glb_capacity"} <= seen
