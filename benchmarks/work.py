"""In-process benchmark bodies: ``python benchmarks/work.py NAME [--key value ...]``.

Each body does its setup (imports, workload and arch loading, proposal generation, JIT warm-up)
untimed, then times only the measured work and prints one line ``BENCH {json}`` with ``work_s``
and its metrics (see benchmarks/harness.py). The bodies are a registry: name -> function.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALEXNET_CONV = ["CONV1", "CONV2", "CONV3", "CONV4", "CONV5"]


class Clock:
    """Wall and CPU seconds (this process) since construction: on a shared machine the CPU time is
    the figure that does not grow with other people's load."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _mac_layers(workload_name: str, layers: list[str] | None):
    from workloads.loader import load_workload

    wl = load_workload(workload_name)
    if layers:
        wl = wl.select(layers)
    return [layer for layer in wl.layers if layer.kind.has_macs]


def sample_mappings(layers, arch, flow, per_layer: int, seed: int) -> list[tuple]:
    """``per_layer`` distinct legal mappings of each layer, drawn as the mapper's random half does
    (accelsim.mapper.space.Space.propose) from one seeded generator. Returns (layer, mapping) pairs."""
    from accelsim.legality import problems_of
    from accelsim.mapper.space import Space

    rng = random.Random(seed)
    out = []
    for layer in layers:
        space = Space(layer, arch, flow)
        seen: set = set()
        tries = 0
        while len(seen) < per_layer and tries < per_layer * 50:
            tries += 1
            m = space.propose(rng)
            ident = (m.factors, m.orders)
            if ident in seen or problems_of(layer, m, arch):
                continue
            seen.add(ident)
            out.append((layer, m))
    return out


def eval_python(a: argparse.Namespace) -> dict:
    """The plain-Python cost model as the mapper calls it: count(layer, mapping) then score()
    (energy and the bandwidth-aware cycle bound) on distinct legal mappings of AlexNet CONV1-5."""
    from accelsim.arch import load_arch
    from accelsim.cost.counts import count
    from accelsim.mapper.score import score
    from dataflows import registry

    arch = load_arch(a.arch)
    flow = registry.get(a.dataflow)
    pairs = sample_mappings(_mac_layers("alexnet", ALEXNET_CONV), arch, flow, a.per_layer, a.seed)
    clock = Clock()
    for layer, m in pairs:
        score(count(layer, m), arch, "energy")
    work, cpu = clock.stop()
    return {"work_s": work, "work_cpu_s": cpu, "evals": len(pairs), "evals_per_second": len(pairs) / cpu}


def eval_bench(a: argparse.Namespace) -> dict:
    """benchmarks/bench_eval.py's run(quick) (owned by the numba scorer's author): every path it times.

    Per path P: ``P.run_s`` (its median run's wall seconds), ``P.evals_per_second`` (evaluations per
    CPU second: one core's rate whatever else loads the machine) and ``P.wall_evals_per_second``.
    ``work_s`` is bench_eval's own total; its compile figures pass through as ``compile_*``."""
    sys.path.insert(0, str(HERE))
    import bench_eval  # noqa: E402  (benchmarks/bench_eval.py)

    res = bench_eval.run(a.quick)
    out = {"work_s": res["work_s"]}
    for name, p in res["paths"].items():
        out[f"{name}.run_s"] = p["evals"] / p["evals_per_second"]
        out[f"{name}.work_cpu_s"] = p["evals"] / p["evals_per_cpu_second"]
        out[f"{name}.evals_per_second"] = p["evals_per_cpu_second"]
        out[f"{name}.wall_evals_per_second"] = p["evals_per_second"]
        out[f"{name}.evals"] = p["evals"]
    for k, v in res.get("compile", {}).items():
        if isinstance(v, (int, float)):
            out[f"compile_{k}"] = v
    return out


def search(a: argparse.Namespace) -> dict:
    """accelsim.mapper.search.search on every MAC layer of the selection, for each
    (arch, dataflow) pair given, at the given budget: the mapper alone."""
    from accelsim.arch import load_arch
    from accelsim.mapper.search import SearchSpec
    from accelsim.mapper.search import search as run_search
    from dataflows import registry

    pairs = [p.split(":") for p in a.pairs.split(",")]
    jobs = [(load_arch(arch), registry.get(df)) for arch, df in pairs]
    layers = _mac_layers(a.workload, a.layers.split(",") if a.layers else None)
    budget = a.budget or SearchSpec().budget
    spec = SearchSpec("energy", budget, a.seed)
    # warm-up (JIT compilation of the numba scorer, if the mapper uses it): a small search on a small layer
    clock = Clock()
    run_search(_mac_layers("alexnet", ["CONV3"])[0], jobs[0][0], jobs[0][1], SearchSpec("energy", 50, 1))
    warmup, _ = clock.stop()
    evaluated = 0
    energy = 0.0
    clock = Clock()
    for arch, flow in jobs:
        for layer in layers:
            found = run_search(layer, arch, flow, spec)
            evaluated += found.evaluated
            energy += found.score.energy_pj
    work, cpu = clock.stop()
    return {"work_s": work, "work_cpu_s": cpu, "warmup_s": warmup, "budget": budget, "evaluated": evaluated,
            "layers": len(layers) * len(jobs), "search_evals_per_second": evaluated / cpu, "energy_pj": energy}


def simulate(a: argparse.Namespace) -> dict:
    """accelsim.sim.simulate_layer on every MAC layer under the dataflow's named mapping: the
    simulator alone (mapping and cost counts computed before the clock starts)."""
    from accelsim.arch import load_arch
    from accelsim.cost.model import evaluate
    from accelsim.sim import simulate_layer
    from dataflows import registry

    arch = load_arch(a.arch)
    flow = registry.get(a.dataflow or arch.dataflow)
    layers = _mac_layers(a.workload, None)
    prepared = [(layer, evaluate(layer, arch, flow.named(layer, arch))) for layer in layers]
    # the simulator's modules load numpy and simpy on first use (accelsim.sim is lazy); load them before
    # the clock so this times the simulator alone, as it did when they were imported at module level
    import numpy  # noqa: F401
    import simpy  # noqa: F401
    clock = Clock()
    cycles = 0
    for layer, res in prepared:
        cycles += int(simulate_layer(layer, arch, res.mapping, res.counts).cycles)
    work, cpu = clock.stop()
    return {"work_s": work, "work_cpu_s": cpu, "cycles": cycles, "layers": len(prepared)}


BENCH_EVAL_PATHS = ("python", "numba", "batch", "batch_scored")   # benchmarks/bench_eval.py's paths

BODIES = {"eval_python": eval_python, "eval_bench": eval_bench, "search": search, "simulate": simulate}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("body", choices=sorted(BODIES))
    p.add_argument("--arch", default="eyeriss_v1")
    p.add_argument("--dataflow", default="")
    p.add_argument("--workload", default="alexnet")
    p.add_argument("--layers", default="")
    p.add_argument("--pairs", default="eyeriss_v1:rs", help="search: comma-separated ARCH:DATAFLOW pairs")
    p.add_argument("--budget", type=int, default=0, help="search budget (default: SearchSpec's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-layer", type=int, default=400)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.body == "eval_python" and not a.dataflow:
        a.dataflow = "rs"
    out = BODIES[a.body](a)
    print("BENCH " + json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
