"""The mapper with sparsity (accelsim.mapper.sparse_rank): the search's shortlist re-ranked by the
sparse objective, capacity by compressed size."""

from __future__ import annotations

from functools import cache

import pytest

from accelsim import pipeline
from accelsim.arch import load_arch
from accelsim.errors import ConfigError
from accelsim.mapper.search import SearchSpec
from accelsim.mapper.sparse_rank import rerank, sparse_score
from accelsim.sparse.density import Uniform
from accelsim.sparse.layer import Sparsity
from accelsim.sparse.spec import spec_from_dict
from workloads.layer import Workload, conv

SPEC = spec_from_dict({"name": "s", "formats": {"dram": {"ifmap": "bitmask"}},
                       "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}, "s.yaml")
MODELS = (("ifmap", Uniform(0.3)), ("weight", Uniform(0.5)))


@cache
def _run():
    w = Workload("t", (conv("c1", C=8, K=16, H=10, R=3, pad=1),))
    spec = SearchSpec("edp", 80, 0)
    return pipeline.run(load_arch("eyeriss_v1"), w, search_spec=spec, sparsity=Sparsity(SPEC, MODELS))


def test_search_with_sparsity_keeps_the_shortlist_mapping_with_the_best_sparse_objective():
    run = _run()
    lr = run.layers[0]
    layer, arch = lr.result.layer, run.arch
    models = dict(MODELS)
    chosen, _ = sparse_score(layer, arch, lr.result.mapping, "edp", SPEC, models)
    others = [sparse_score(layer, arch, m, "edp", SPEC, models)[0] for m in lr.search.shortlist]
    assert lr.result.mapping in lr.search.shortlist
    assert chosen == min(others)
    # 0.3 x 0.5 of the MACs whose ifmap is an element: 28 of the 30 (p, r) pairs per axis (H 10, R 3, pad 1)
    assert lr.sparse is not None
    assert lr.sparse.actions.effective_macs == pytest.approx(0.15 * (28 / 30) ** 2 * layer.macs)


def test_no_candidate_fits_by_worst_case_compressed_size_is_one_line():
    """A coordinate list with 64-bit coordinates takes 5 words per full-tile element: the 12-word ifmap
    scratchpad overflows under every shortlist mapping (worst case)."""
    run = _run()
    lr = run.layers[0]
    worst = spec_from_dict({"name": "w", "capacity": "worst",
                            "formats": {"rf": {"ifmap": {"ranks": [{"CP": 64}]}}}}, "w.yaml")
    with pytest.raises(ConfigError, match=r"w.yaml: layer 'c1': no mapping of the search's shortlist fits by "
                                          r"compressed size \(rf: ifmap tiles take"):
        rerank(lr.result.layer, run.arch, lr.search.shortlist, "edp", worst, {})
