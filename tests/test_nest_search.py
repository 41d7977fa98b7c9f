"""The mapper over any hierarchy (accelsim.mapper.nest_search): every nest it returns is legal
(loopnest.problems_of), same seed gives the same result, its score is the exact cost of its nest,
and on fixed-shape archs it never does worse than today's fixed-shape mapper (best of every
dataflow) on the same objective and budget."""

from __future__ import annotations

import random

import numpy as np
import pytest

from accelsim.arch import load_arch
from accelsim.cost.actions import count_actions
from accelsim.cost.counts import to_counts
from accelsim.cost.fast_nest import bound_nests
from accelsim.cost.model import fixed_energy
from accelsim.cost.nest_arrays import NestLayout, decode_nest
from accelsim.errors import ConfigError
from accelsim.hierarchy import from_arch, load_architecture
from accelsim.legality import problems_of as fixed_problems_of
from accelsim.loopnest import from_fixed, problems_of
from accelsim.mapper.nest_search import fixed_arch_weights, named_starts, search_nest
from accelsim.mapper.nest_space import NestSpace
from accelsim.mapper.search import SearchSpec, search
from accelsim.mapper.space import propose
from accelsim.problem import attention_scores, from_layer
from dataflows import registry
from workloads import zoo
from workloads.layer import conv as _conv


@pytest.mark.parametrize("arch", ["eyeriss_v1", "hierarchy/eyeriss_v2", "hierarchy/simba_like"])
def test_proposals_and_moves_are_legal(arch):
    h = load_architecture(arch)
    p = from_layer(zoo.get("alexnet").layers[1])
    space = NestSpace(NestLayout(p, h))
    rng = np.random.default_rng(3)
    props = space.propose(rng, 150)
    kids = space.mutate(rng, props, 150)
    assert props.n_nests > 30 and kids.n_nests > 30
    for arrays in (props, kids):
        for i in range(arrays.n_nests):
            assert problems_of(p, h, decode_nest(space.layout, arrays, i)) == []


def test_same_seed_same_result_and_the_score_is_exact():
    h = load_architecture("hierarchy/eyeriss_v2")
    p = attention_scores(2, 16, 8)
    a = search_nest(p, h, objective="cycles", budget=1500, seed=7)
    b = search_nest(p, h, objective="cycles", budget=1500, seed=7)
    assert a == b
    assert problems_of(p, h, a.nest) == []
    layout = NestLayout(p, h)
    row = layout.row_of(count_actions(p, h, a.nest))
    assert a.score.cycles == bound_nests(layout, row[None])[0]
    assert a.score.cycles >= p.macs / h.instances


def test_bad_arguments_are_one_line_errors():
    h = load_architecture("eyeriss_v1")
    p = from_layer(_conv("c", 4, 4, 5, 3))
    with pytest.raises(ConfigError, match="unknown objective 'speed'; allowed: energy, cycles, edp"):
        search_nest(p, h, objective="speed")
    with pytest.raises(ConfigError, match="objective 'energy' needs energy weights"):
        search_nest(p, h, objective="energy")
    with pytest.raises(ConfigError, match="search budget must be an integer"):
        search_nest(p, h, objective="cycles", budget=0)


def test_column_weights_price_tables_as_the_energy_models_do():
    from accelsim.cost.energy import column_weights
    from accelsim.cost.energy import energy_of as table_energy
    from accelsim.energy_table import table_for

    arch = load_arch("eyeriss_v1")
    layer = zoo.get("alexnet").layers[2]
    h = from_arch(arch)
    layout = NestLayout(from_layer(layer), h)
    w = fixed_arch_weights(layout, arch)
    mappings = [registry.get("rs").named(layer, arch)]
    for i, flow in enumerate(sorted(registry.names()) * 3):
        m = propose(layer, arch, registry.get(flow), random.Random(i))
        if not fixed_problems_of(layer, m, arch):
            mappings.append(m)
    assert len(mappings) >= 4
    for m in mappings:
        a = count_actions(from_layer(layer), h, from_fixed(m, h))
        want = fixed_energy(to_counts(a), arch).total_pj
        assert layout.row_of(a).astype(np.float64) @ w == pytest.approx(want, rel=1e-12)
    # the (component, action) table's energy on a true hierarchy (clustered Eyeriss v2), proposed nests
    h2 = load_architecture("hierarchy/eyeriss_v2")
    p2 = from_layer(layer)
    layout2 = NestLayout(p2, h2)
    table = table_for(h2)
    w2 = column_weights(layout2, table)
    arrays = NestSpace(layout2).propose(np.random.default_rng(1), 40)
    assert arrays.n_nests >= 5
    for i in range(arrays.n_nests):
        a = count_actions(p2, h2, decode_nest(layout2, arrays, i))
        want = table_energy(a, h2, table).total_pj
        assert layout2.row_of(a).astype(np.float64) @ w2 == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("arch_name,layer", [
    ("eyeriss_v1", _conv("small3x3", 8, 16, 8, 3)),
    ("isca16/rs", _conv("small_s2", 6, 8, 9, 3, stride=2, pad=1)),
])
def test_never_worse_than_the_fixed_shape_mapper(arch_name, layer):
    arch = load_arch(arch_name)
    h = from_arch(arch)
    p = from_layer(layer)
    w = fixed_arch_weights(NestLayout(p, h), arch)
    budget = 3000
    found = []
    for flow in sorted(registry.names()):
        try:
            found.append(search(layer, arch, registry.get(flow), SearchSpec("energy", budget, 0)).score.objective)
        except ConfigError:         # a dataflow this arch cannot run on this layer
            pass
    assert found
    fixed = min(found)
    general = search_nest(p, h, objective="energy", budget=budget, seed=0, energy_weights=w)
    assert problems_of(p, h, general.nest) == []
    assert general.score.objective <= fixed * (1 + 1e-9), (general.score.objective, fixed)
    # with the named mappings as start nests (what `run` passes on fixed-shape archs) it stays so
    starts = named_starts(layer, arch, h)
    seeded = search_nest(p, h, objective="energy", budget=budget, seed=0, energy_weights=w, start=starts)
    layout = NestLayout(p, h)
    for nest in starts:
        assert seeded.score.objective <= layout.row_of(count_actions(p, h, nest)).astype(np.float64) @ w
