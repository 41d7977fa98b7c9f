"""Hardware limits on mappings: GLB partitions (glb.partitions) and dims a level may not split
(constraints.unsplit). The checker flags what breaks them; every path that builds mappings (named
mappings, the Python mapper, the batch mapper) emits only mappings that keep them."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from accelsim.arch import Constraints, load_arch
from accelsim.cost.encode import decode, encode_layer
from accelsim.legality import Problem, problems_of
from accelsim.mapper.batch import BatchSpace
from accelsim.mapper.search import SearchSpec, search_python
from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping
from dataflows import registry
from workloads.layer import DIMS, Layer, conv
from workloads.loader import load_workload

Q = DIMS.index("Q")
V1 = load_arch("eyeriss_v1")
V1_FREE = replace(V1, glb=replace(V1.glb, partitions=()), constraints=Constraints())


def _pins_hold(factors) -> bool:
    """Every (level, dim) eyeriss_v1 forbids to split has factor 1 (array: any leading batch axes)."""
    f = np.asarray(factors)
    return all(np.all(f[..., level, d] == 1) for level in range(5) for d in V1.constraints.pinned(level))


def test_eyeriss_v1_pins_the_chips_rs_limits():
    # whole rows per pass; one filter row per PE; images never side by side
    names = {lv: {DIMS[d] for d in V1.constraints.pinned(i)} for i, lv in enumerate(("dram", "glb", "rows", "cols", "rf"))}
    assert names == {"dram": {"Q", "R", "S"}, "glb": {"R", "S"}, "rows": {"N", "S"}, "cols": {"N", "Q", "R", "S"},
                     "rf": {"N", "Q", "R"}}


def _mapping(dram: dict, glb: dict) -> Mapping:
    """DRAM and GLB factors as given; R on the PE rows and S in the PE, as eyeriss_v1 requires."""
    f = [[1] * 8 for _ in range(5)]
    for level, d in ((DRAM, dram), (GLB, glb), (ROWS, {"R": 3}), (RF, {"S": 3})):
        for name, v in d.items():
            f[level][DIMS.index(name)] = v
    order = tuple(range(8))
    return Mapping(tuple(tuple(x) for x in f), (order,) * 3, (True, True, True), (True, True, True))


# K=32, C=16, 3x3 over a 6x6 input: 4,608 weights; ifmap 16*6*6 = 576 words, psums 32*4*4 = 512
LAYER = Layer("l", N=1, C=16, K=32, H=6, W=6, R=3, S=3)
WHOLE = {"K": 32, "C": 16, "P": 4, "Q": 4}


def test_weight_partition_overflows_where_the_shared_buffer_would_not():
    m = _mapping({}, WHOLE)
    # eyeriss_v1 keeps filters in their own 8 kB = 4,096 words: 4,608 do not fit
    assert problems_of(LAYER, m, V1) == [Problem("glb_capacity", "GLB tiles need 4608 words > 4096 (weight partition)",
                                                 level="glb", tensors=("weight",), need=4608, limit=4096)]
    # one shared 108 kB buffer (55,296 words) holds all 576 + 4,608 + 512 = 5,696
    assert problems_of(LAYER, m, V1_FREE) == []
    # halving K at DRAM halves the weight tile: 2,304 words fit
    assert problems_of(LAYER, _mapping({"K": 2}, {**WHOLE, "K": 16}), V1) == []


def test_ifmap_psum_partition_is_shared_by_both():
    arch = replace(V1, glb=replace(V1.glb, partitions=((("ifmap", "psum"), 2.0), (("weight",), 106.0))))
    # 2 kB = 1,024 words for ifmap + psum; 576 + 512 = 1,088 do not fit, 576 + 256 (K halved) do
    assert problems_of(LAYER, _mapping({}, WHOLE), arch) == [
        Problem("glb_capacity", "GLB tiles need 1088 words > 1024 (ifmap+psum partition)", level="glb",
                tensors=("ifmap", "psum"), need=1088, limit=1024)]
    assert problems_of(LAYER, _mapping({"K": 2}, {**WHOLE, "K": 16}), arch) == []


def test_unsplit_dim_is_flagged_at_each_level():
    split = _mapping({"Q": 2, "K": 2}, {**WHOLE, "Q": 2, "K": 16})
    assert problems_of(LAYER, split, V1) == [
        Problem("constraint", "dram factor 2 of Q breaks the arch's constraints (constraints.unsplit.dram lists Q)",
                level="dram", dim="Q", need=2, limit=1)]
    assert problems_of(LAYER, split, V1_FREE) == []
    f = [list(x) for x in _mapping({"K": 2}, {**WHOLE, "K": 16, "Q": 1}).factors]
    f[COLS][Q] = 4
    cols_split = Mapping(tuple(tuple(x) for x in f), ((0, 1, 2, 3, 4, 5, 6, 7),) * 3, (True,) * 3, (True,) * 3)
    assert problems_of(LAYER, cols_split, V1) == [
        Problem("constraint", "cols factor 4 of Q breaks the arch's constraints (constraints.unsplit.cols lists Q)",
                level="cols", dim="Q", need=4, limit=1)]


VGG = {layer.name: layer for layer in load_workload("vgg16", 3).layers if layer.name.startswith("conv")}
ALEX = [layer for layer in load_workload("alexnet", 4).layers if layer.name.lower().startswith("conv")]


@pytest.mark.parametrize("layer", list(VGG.values()) + ALEX, ids=lambda layer: layer.name)
def test_named_rs_mapping_keeps_whole_rows_and_partitions(layer):
    m = registry.get("rs").named(layer, V1)
    assert problems_of(layer, m, V1) == []
    assert m.factors[GLB][Q] == layer.Q            # the whole row is walked inside the GLB tile
    assert _pins_hold(m.factors)


@pytest.mark.parametrize("layer", [VGG["conv2_1"], ALEX[1]], ids=["vgg_conv2_1", "alexnet_conv2"])
def test_batch_proposals_keep_the_constraints(layer):
    # VGG conv2_1: rows of 112, wide enough that splitting them is tempting; AlexNet CONV2: R = 5 must lie
    # whole on the PE rows, which many row choices cannot give it (those proposals must be dropped)
    flow = registry.get("rs")
    rng = np.random.default_rng(3)

    def legal_batch(arch):
        space = BatchSpace(layer, arch, flow, encode_layer(layer))
        cand, _ = space.legal(rng, space.propose(rng, 2000))
        children, _ = space.legal(rng, space.mutate(rng, cand, 2000))
        return cand, children

    free, _ = legal_batch(V1_FREE)
    assert not _pins_hold(free.factors)              # without the constraints the space does break them
    for batch in legal_batch(V1):
        assert len(batch.factors) > 100
        assert _pins_hold(batch.factors)
        for i in range(0, len(batch.factors), max(1, len(batch.factors) // 60)):
            assert problems_of(layer, decode(batch, i), V1) == []


def test_python_mapper_keeps_the_constraints():
    layer = conv("c", C=16, K=32, H=30, R=3, pad=1)
    flow = registry.get("rs")
    res = search_python(layer, V1, flow, SearchSpec("energy", 300, 1))
    assert problems_of(layer, res.mapping, V1) == []
    assert res.mapping.factors[GLB][Q] == layer.Q and _pins_hold(res.mapping.factors)


def test_python_space_proposals_keep_the_constraints():
    from accelsim.mapper.space import Space, mutate

    layer = VGG["conv3_1"]
    flow = registry.get("rs")
    space, rng = Space(layer, V1, flow), random.Random(5)
    seen = 0
    for _ in range(150):
        m = mutate(layer, V1, flow, space.propose(rng), rng)
        if not problems_of(layer, m, V1):      # the checker rejects a broken constraint ...
            assert _pins_hold(m.factors)
            seen += 1
    assert seen > 30                            # ... and most proposals keep them in the first place
