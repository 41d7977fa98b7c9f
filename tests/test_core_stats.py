"""stats.json (accelsim.stats/2) carries each layer's labelled action table, and the /1 rows are
exactly its sums: reads = read + drain, writes = fill + update, the NoC rows the array network's
per-destination / per-source words, noc_transfers = down + up."""

from __future__ import annotations

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
