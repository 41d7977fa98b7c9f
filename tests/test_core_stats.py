"""stats.json (accelsim.stats/2) carries each layer's labelled action table, and the /1 rows are
exactly its sums: reads = read + drain, writes = fill + update, the NoC rows the array network's
per-destination / per-source words, noc_transfers = down + up."""

from __future__ import annotations

import pytest

from accelsim import report
from accelsim.arch import load_arch
from accelsim.pipeline import run
from workloads import zoo


def test_stats_actions_sum_to_the_access_rows():
    doc = report.stats(run(load_arch("eyeriss_v1"), zoo.get("alexnet").select(["CONV2", "FC8"])))
    assert doc["schema"] == "accelsim.stats/2" and doc["hand_written_mappings"] == []
    for layer in doc["layers"]:
        words: dict = {}
        for row in layer["actions"]:
            assert row["words"] > 0
            words[(row["level"], row["tensor"], row["action"])] = row["words"]
        for t in ("ifmap", "weight", "psum"):
            for lv in ("dram", "glb", "rf"):
                acc = layer["accesses"][lv][t]
                assert acc["reads"] == words.get((lv, t, "read"), 0) + words.get((lv, t, "drain"), 0)
                assert acc["writes"] == words.get((lv, t, "fill"), 0) + words.get((lv, t, "update"), 0)
            assert layer["accesses"]["noc"][t]["reads"] == words.get(("glb.net", t, "down_dest"), 0)
            assert layer["accesses"]["noc"][t]["writes"] == words.get(("glb.net", t, "up_src"), 0)
            assert layer["noc_transfers"][t] == words.get(("glb.net", t, "down"), 0) + words.get(("glb.net", t, "up"), 0)
        # every MAC reads its weight from the operand register: the register level has its own row
        assert words[("reg", "weight", "read")] == layer["macs"]


# ---- the /1 contract and the README's definitions ---------------------------------------------------

# Every first-order field accelsim.stats/1 wrote (report.py before 69614fe, a named --no-sim run): /2
# must keep each of them, on the fixed path and on a level-list hierarchy.
STATS_1_TOP = {"accelsim_version", "arch", "arch_file", "batch", "clock_mhz", "dataflow", "energy_preset",
               "hand_written_mappings", "layers", "pes", "schema", "search", "seed", "simulated", "totals", "workload"}
STATS_1_TOTALS = {"cycles", "dram_accesses_per_mac", "energy_breakdown_pj", "energy_per_mac_pj", "energy_pj",
                  "ideal_cycles", "latency_ms", "macs", "utilization"}
STATS_1_LAYER = {"accesses", "active_pes", "cycles", "energy_breakdown_pj", "energy_by_tensor_pj", "energy_pj",
                 "ideal_cycles", "kind", "macs", "mapping", "mapping_nest", "name", "noc_transfers", "shape",
                 "spatial_utilization", "utilization"}
# reported, though not numbers: their definitions must be in the README too
NON_NUMERIC_METRICS = {"actions", "eyexam", "sim", "area_mm2", "cycles_are", "mapping_source", "hand_written_mappings"}


def _readme_fields() -> set[str]:
    """First path segment of every backticked name in the first cell of the README's stats table."""
    import re

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    table = text[text.index("| field | definition |"):].split("\n\n", 1)[0]
    out = set()
    for row in table.splitlines()[2:]:
        for name in re.findall(r"`([^`]+)`", row.split("|")[1]):
            if not name.startswith("."):
                out.add(name.removeprefix("layers[].").removeprefix("totals.").split(".")[0])
    return out


def _metrics(doc: dict) -> set[str]:
    def numeric(v) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            return True
        return isinstance(v, dict) and bool(v) and all(v2 is None or numeric(v2) for v2 in v.values())

    found = {k for k, v in doc.items() if k != "totals" and (numeric(v) or k in NON_NUMERIC_METRICS)}
    found |= {k for k, v in doc["totals"].items() if numeric(v)}
    for layer in doc["layers"]:
        found |= {k for k, v in layer.items() if numeric(v) or k in NON_NUMERIC_METRICS}
    return found


def _docs() -> dict:
    from accelsim import report_hierarchy
    from accelsim.hierarchy import load_architecture, load_hierarchy
    from accelsim.pipeline_hierarchy import run_hierarchy
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.spec import load_spec
    from tests.conftest import REPO
    from workloads.problems import load_problem_workload
    from workloads.selection import select_layers

    small = select_layers(load_problem_workload("alexnet"), "CONV5,FC8")
    return {
        "fixed, simulated": report.stats(run(load_arch("eyeriss_v1"), zoo.get("alexnet").select(["CONV5", "FC8"]),
                                                      simulate=True)),
        "fixed, sparse, simulated": report.stats(run(load_arch("eyeriss_v1"), zoo.get("alexnet_sparse").select(["CONV5"]),
                                                     simulate=True, sparsity=Sparsity(load_spec("eyeriss_v1")))),
        "hierarchy, simulated": report_hierarchy.stats(run_hierarchy(load_architecture("eyeriss_v2"), small, None)),
        "hierarchy with areas, --no-sim": report_hierarchy.stats(run_hierarchy(
            load_hierarchy(str(REPO / "tests" / "data" / "core_energy_v2.yaml")), small, "rs", simulate=False)),
    }


def test_stats_2_keeps_every_stats_1_field_and_the_readme_defines_every_metric():
    docs = _docs()
    defined = _readme_fields()
    assert {"macs", "accesses", "actions", "stall_cycles"} <= defined         # the parser reads the table
    for name, doc in docs.items():
        assert doc["schema"] == "accelsim.stats/2", name
        assert STATS_1_TOP <= set(doc), (name, STATS_1_TOP - set(doc))
        assert STATS_1_TOTALS <= set(doc["totals"]), (name, STATS_1_TOTALS - set(doc["totals"]))
        for layer in doc["layers"]:
            assert STATS_1_LAYER <= set(layer), (name, layer["name"], STATS_1_LAYER - set(layer))
        assert _metrics(doc) <= defined, (name, sorted(_metrics(doc) - defined))
    sim = docs["fixed, simulated"]["layers"][0]
    assert {"stall_cycles", "busy", "sim", "eyexam"} <= set(sim)               # the simulated fields were checked


def test_stats_area_is_the_hierarchy_area():
    """core_energy_v2.yaml gives 0.2 mm^2 per GLB cluster (16), 0.005 per spad and 0.003 per MAC (192 each)."""
    docs = _docs()
    assert docs["hierarchy with areas, --no-sim"]["area_mm2"] == pytest.approx(16 * 0.2 + 192 * (0.005 + 0.003))
    assert docs["hierarchy, simulated"]["area_mm2"] is None                    # eyeriss_v2 gives no areas
