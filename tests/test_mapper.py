"""The mapper: legal, deterministic, budgeted, never worse than the named mapping, and on a tiny
layer as good as exhaustive enumeration of the same space."""

from __future__ import annotations

import itertools

import pytest

from accelsim.arch import arch_from_dict, load_arch
from accelsim.cost.counts import count
from accelsim.errors import ConfigError
from accelsim.legality import problems_of
from accelsim.mapper.score import score
from accelsim.mapper.search import SearchSpec, _key, search
from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping
from dataflows import registry
from workloads.layer import Layer
from workloads.zoo import get

CONV3 = get("alexnet").layers[2]


@pytest.mark.parametrize("flow", ["rs", "ws", "os", "is", "nlr"])
def test_search_is_legal_deterministic_and_beats_named(flow):
    arch = load_arch("isca16/rs" if flow == "rs" else "isca16/nlr" if flow == "nlr" else "isca16/ws")
    if flow in ("os", "is"):
        arch = load_arch("isca16/os_soc_mop") if flow == "os" else arch_from_dict(
            {**_doc(arch), "rf": {"ifmap_words": 1}, "dataflow": "is"}, "is")
    df = registry.get(flow)
    spec = SearchSpec("energy", budget=150, seed=3)
    a = search(CONV3, arch, df, spec)
    b = search(CONV3, arch, df, spec)
    assert a.mapping == b.mapping and a.result == b.result
    assert problems_of(CONV3, a.mapping, arch) == []
    assert a.evaluated <= 150
    named = score(count(CONV3, df.named(CONV3, arch)), arch, "energy")
    assert a.score.energy_pj <= named.energy_pj
    # the dataflow's constraints hold: spatial dims only where allowed, RF keeps only its tensors
    for level, allowed in ((ROWS, df.dim_ids("rows")), (COLS, df.dim_ids("cols"))):
        assert all(f == 1 or d in allowed for d, f in enumerate(a.mapping.factors[level]))
    assert all(not k or t in df.rf_keeps for t, k in zip(("ifmap", "weight", "psum"), a.mapping.rf_keep))


def _doc(arch):
    from accelsim.arch import arch_to_dict

    return arch_to_dict(arch)


def test_different_seeds_explore_differently():
    arch = load_arch("isca16/rs")
    df = registry.get("rs")
    results = {search(CONV3, arch, df, SearchSpec(budget=2000, seed=s)).mapping for s in range(4)}
    assert len(results) > 1


def test_objectives_rank_their_own_metric():
    arch = load_arch("isca16/rs")
    df = registry.get("rs")
    by_energy = search(CONV3, arch, df, SearchSpec("energy", budget=300, seed=1))
    by_cycles = search(CONV3, arch, df, SearchSpec("cycles", budget=300, seed=1))
    assert by_energy.score.energy_pj <= by_cycles.score.energy_pj
    assert by_cycles.score.cycles <= by_energy.score.cycles


def test_time_limit_stops_search():
    arch = load_arch("isca16/rs")
    r = search(CONV3, arch, registry.get("rs"), SearchSpec(budget=10**9, seed=0, time_limit_s=0.3))
    assert r.stopped_by == "time_limit" and r.evaluated < 10**9


@pytest.mark.parametrize("bad", [dict(objective="speed"), dict(budget=0), dict(budget=-5), dict(time_limit_s=0)])
def test_bad_spec(bad):
    with pytest.raises(ConfigError):
        SearchSpec(**bad)


def test_matches_exhaustive_enumeration_on_a_tiny_space():
    """A 2x2 array, a tiny layer, NLR (no RF): enumerate every legal mapping with factors from the
    same candidate sets and every DRAM/GLB order of the looping dims; the search must find the
    exhaustive minimum energy."""
    arch = arch_from_dict({"version": 1, "name": "t", "clock_mhz": 100, "word_bits": 16,
                           "pe_array": {"rows": 2, "cols": 2},
                           "glb": {"size_kb": 0.0625, "bandwidth_words_per_cycle": 4},
                           "dram": {"bandwidth_gb_per_s": 1.0}, "dataflow": "nlr"}, "t")
    layer = Layer("t", C=2, K=2, H=3, W=1, R=1, S=1)                       # P = 3
    df = registry.get("nlr")
    best = None
    # nlr: rows <- C, cols <- K, no per-PE loops; enumerate spatial, GLB split and orders
    for c_sp, k_sp in itertools.product((1, 2), (1, 2)):
        rest = [1, 1, 2 // k_sp, 2 // c_sp, 3, 1, 1, 1]
        for glb in itertools.product(*[range(1, r + 1) for r in rest]):
            if any(g > 1 and (g - 1) * 1 >= r for g, r in zip(glb, rest)):
                continue
            dram = [-(-r // g) for r, g in zip(rest, glb)]
            loop_dims = sorted({d for d in range(8) if dram[d] > 1 or glb[d] > 1})
            for o1 in itertools.permutations(loop_dims):
                for o2 in itertools.permutations(loop_dims):
                    def full(o):
                        return tuple([d for d in range(8) if d not in o] + list(o))
                    f = [None] * 5
                    f[DRAM], f[GLB], f[RF] = tuple(dram), tuple(glb), (1,) * 8
                    f[ROWS] = (1, 1, 1, c_sp, 1, 1, 1, 1)
                    f[COLS] = (1, 1, k_sp, 1, 1, 1, 1, 1)
                    m = Mapping(tuple(f), (full(o1), full(o2), tuple(range(8))), (True,) * 3, (False,) * 3)
                    if problems_of(layer, m, arch):
                        continue
                    e = score(count(layer, m), arch, "energy").energy_pj
                    best = e if best is None else min(best, e)
    found = search(layer, arch, df, SearchSpec(budget=400, seed=0))
    assert found.score.energy_pj == pytest.approx(best)


def test_batch_search_keeps_a_named_mapping_the_kernel_cannot_count():
    """Eyeriss v1's CONV1 named mapping has a per-pass filter tile (``Mapping.glb_pass``), which the
    int64 kernel refuses (encode raises); the array search scores it exactly instead, keeps it in the
    shortlist and returns it when nothing it finds beats it (a tiny budget here), so a search is
    still never worse than the named mapping."""
    from dataclasses import replace as _replace

    from accelsim.cost.encode import encode_batch
    from accelsim.errors import ConfigError
    from accelsim.mapper.search import search_batch

    arch = load_arch("eyeriss_v1")
    layer = _replace(get("alexnet").layers[0], N=4)
    named = registry.get("rs").named(layer, arch)
    assert any(named.glb_pass)
    with pytest.raises(ConfigError, match="per-pass GLB tile"):
        encode_batch(layer, [named])
    r = search_batch(layer, arch, registry.get("rs"), SearchSpec("energy", budget=8, seed=0))
    assert named in r.shortlist
    assert r.score.energy_pj <= score(count(layer, named), arch, "energy").energy_pj
    # the shortlist (the pool ranked by its batch scores, the named one by its exact score) is in the
    # Python path's order of exact scores
    keys = [_key(score(count(layer, m), arch, "energy"), m) for m in r.shortlist]
    assert keys == sorted(keys) and r.shortlist[0] == r.mapping


def test_sparse_batch_search_scores_a_per_pass_named_mapping_on_the_slow_sparse_model():
    """A sparse search used to drop a per-pass named mapping silently (the int64 kernel refuses it);
    now it is scored by the slow sparse model (``sparse_rank.sparse_score``, the batch scorer's slow
    twin) and wins when nothing found beats it: its score is exactly the slow model's."""
    from dataclasses import replace as _replace

    from accelsim.cost.bound import latency_bound
    from accelsim.mapper.search import search_batch
    from accelsim.mapper.sparse_rank import sparse_score
    from accelsim.sparse.density import Uniform
    from accelsim.sparse.layer import bandwidth_counts
    from accelsim.sparse.spec import load_spec

    arch = load_arch("eyeriss_v1")
    layer = _replace(get("alexnet").layers[0], N=4)
    named = registry.get("rs").named(layer, arch)
    assert any(named.glb_pass)
    spec, models = load_spec("eyeriss_v1"), {"ifmap": Uniform(0.4), "weight": Uniform(0.35)}
    r = search_batch(layer, arch, registry.get("rs"), SearchSpec("energy", budget=8, seed=0),
                     sparse=(spec, models))
    obj, sl = sparse_score(layer, arch, named, "energy", spec, models)
    assert r.mapping == named
    assert (r.score.objective, r.score.energy_pj, r.score.cycles) == (obj, sl.energy_pj,
                                                                      latency_bound(bandwidth_counts(sl), arch))
