"""The network mapper (accelsim.mapper.network.plan_network) on ResNet-50, batch 1, eyeriss_v1, default
budget: CPU seconds of the one process (single-threaded, so CPU time is the time on one core, whatever
else the machine runs), wall seconds and the load average next to them.

    python benchmarks/bench_fusion.py          # prints one JSON object

``run() -> dict``: {"workload", "arch", "objective", "budget", "evaluated", "groups", "fused_groups",
"cpu_s", "wall_s", "loadavg", "target_cpu_s"}.
"""

from __future__ import annotations

import json
import os
import time

TARGET_CPU_S = 60.0


def run(workload: str = "resnet50", arch: str = "eyeriss_v1", objective: str = "energy") -> dict:
    from accelsim.arch import load_arch
    from accelsim.mapper.network import plan_network
    from workloads import zoo

    w, a = zoo.get(workload), load_arch(arch)
    cpu, wall = time.process_time(), time.perf_counter()
    plan = plan_network(w, a, objective=objective)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"workload": workload, "arch": arch, "objective": objective, "budget": 20000,
            "evaluated": plan.evaluated, "groups": len(plan.groups),
            "fused_groups": sum(g.counts is not None for g in plan.groups), "cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2), "loadavg": [round(x, 2) for x in os.getloadavg()], "target_cpu_s": TARGET_CPU_S}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
