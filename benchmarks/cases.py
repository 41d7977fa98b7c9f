"""The benchmark cases: a registry of name -> builder(quick) -> Case, each run in a fresh process.

A case whose piece of accelsim is not there (the numba scorer's bench_eval.py, the simulator, the
sweep runner) is reported as skipped with the reason, never silently dropped.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import Case

HERE = Path(__file__).resolve().parent
WORK = str(HERE / "work.py")
ALEXNET_CONV = "CONV1,CONV2,CONV3,CONV4,CONV5"
# the five dataflows of the ISCA'16 comparison on their equal-area configs (IS on the systolic array)
FIVE_DATAFLOWS = "isca16/rs:rs,isca16/ws:ws,isca16/os_soc_mop:os,systolic_32x32_is:is,isca16/nlr:nlr"


def default_budget() -> int:
    """The mapper's default budget (SearchSpec's, which `accelsim run --search` uses)."""
    from accelsim.mapper.search import SearchSpec

    return SearchSpec().budget


@dataclass(frozen=True)
class Plan:
    """How much work one mode does: repetitions and the search budgets (quick: smaller)."""

    quick: bool
    reps: int
    heavy_reps: int
    alexnet_budget: int             # 0: the mapper's default (default_budget())
    resnet_budget: int
    eval_per_layer: int


PLANS = {
    "full": Plan(quick=False, reps=5, heavy_reps=3, alexnet_budget=0, resnet_budget=0, eval_per_layer=400),
    "quick": Plan(quick=True, reps=3, heavy_reps=3, alexnet_budget=0, resnet_budget=1000, eval_per_layer=100),
}


def accelsim_cmd() -> list[str]:
    """The accelsim console script of this interpreter's environment (what a user runs)."""
    script = Path(sys.executable).with_name("accelsim")
    if script.exists():
        return [str(script)]
    found = shutil.which("accelsim")
    return [found] if found else [sys.executable, "-m", "accelsim"]


def work(*args: str) -> tuple[str, ...]:
    return (sys.executable, WORK, *args)


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def has_bench_eval() -> bool:
    return (HERE / "bench_eval.py").exists()


# ------------------------------------------------------------------------------------- the registry
# Each entry: (builder(plan) -> list[Case], requirement() -> reason or "" when it can run)

def _eval(plan: Plan) -> list[Case]:
    return [Case("eval python (count+score, AlexNet CONV1-5)",
                 work("eval_python", "--per-layer", str(plan.eval_per_layer)), "work",
                 f"plain-Python counts.count + score on {plan.eval_per_layer} distinct legal rs mappings per layer "
                 "(eyeriss_v1), one core", one_core=True)]


def _eval_bench(plan: Plan) -> list[Case]:
    quick = ("--quick",) if plan.quick else ()
    from work import BENCH_EVAL_PATHS

    return [Case("eval {part} (bench_eval.py)", work("eval_bench", *quick), "work",
                 "benchmarks/bench_eval.py run(): AlexNet CONV2 on isca16/rs, one core; seconds = one run of the path",
                 one_core=True, parts=BENCH_EVAL_PATHS)]


def _startup(plan: Plan) -> list[Case]:
    return [Case("accelsim --help", (*accelsim_cmd(), "--help"), "process", "interpreter start + CLI import")]


def _run(plan: Plan) -> list[Case]:
    a = accelsim_cmd()
    return [
        Case("run alexnet rs --no-sim", (*a, "run", "eyeriss_v1", "-w", "alexnet", "-d", "rs", "--no-sim", "-q"),
             "process", "whole process, named mappings, cost model only"),
        Case("run resnet50 rs --no-sim", (*a, "run", "eyeriss_v1", "-w", "resnet50", "-d", "rs", "--no-sim", "-q"),
             "process", "whole process, named mappings, cost model only"),
    ]


def _run_sim(plan: Plan) -> list[Case]:
    a = accelsim_cmd()
    return [
        Case("run alexnet rs (sim)", (*a, "run", "eyeriss_v1", "-w", "alexnet", "-d", "rs", "-q"),
             "process", "whole process, named mappings, cost model + simulation"),
        Case("run resnet50 rs (sim)", (*a, "run", "eyeriss_v1", "-w", "resnet50", "-d", "rs", "-q"),
             "process", "whole process, named mappings, cost model + simulation"),
    ]


def _search(plan: Plan) -> list[Case]:
    alex = plan.alexnet_budget or default_budget()
    resnet = plan.resnet_budget or default_budget()
    return [
        Case(f"search alexnet CONV1-5 x5 dataflows (budget {alex})",
             work("search", "--workload", "alexnet", "--layers", ALEXNET_CONV, "--pairs", FIVE_DATAFLOWS,
                  "--budget", str(alex)), "work",
             "mapper.search per layer: rs, ws, os, is, nlr on isca16/* and systolic_32x32_is"),
        Case(f"search resnet50 rs (budget {resnet})",
             work("search", "--workload", "resnet50", "--pairs", "eyeriss_v1:rs", "--budget", str(resnet)),
             "work", "mapper.search on every conv/fc layer of ResNet-50, rs on eyeriss_v1"),
    ]


def _simulate(plan: Plan) -> list[Case]:
    return [
        Case("simulate alexnet rs", work("simulate", "--workload", "alexnet", "--arch", "eyeriss_v1"), "work",
             "accelsim.sim.simulate_layer on every conv/fc layer, named rs mappings"),
        Case("simulate resnet50 rs", work("simulate", "--workload", "resnet50", "--arch", "eyeriss_v1"), "work",
             "accelsim.sim.simulate_layer on every conv/fc layer, named rs mappings"),
    ]


def _sweep(plan: Plan) -> list[Case]:
    return [Case("sweep 100 points -j 2", (*accelsim_cmd(), "sweep", str(HERE / "sweeps" / "bench100.yaml"), "-j", "2",
                                           "--out", "{tmp}", "-q"),
                 "process", "whole process: 100 points (AlexNet CONV1-5, named mappings), 2 workers")]


def _attention(plan: Plan) -> list[Case]:
    a = accelsim_cmd()
    return [Case(f"run bert_base L=512 {d} (tpu_like)", (*a, "run", "tpu_like", "-w", "bert_base", "--dataflow", d,
                                                        "--seq", "512", "-q"),
                 "process", "whole process: 12 BERT-base layers, named attention dataflow (target < 2 s)")
            for d in ("unfused", "flat", "fusemax")]


def _needs_sim() -> str:
    return "" if has_module("accelsim.sim") else "the simulator (accelsim.sim) is not installed yet"


def _needs_sweep() -> str:
    return "" if has_module("accelsim.sweep") else "sweeps (accelsim.sweep) are not installed yet"


def _needs_bench_eval() -> str:
    return "" if has_bench_eval() else "benchmarks/bench_eval.py (the numba batch scorer's benchmark) is not there yet"


GROUPS: dict[str, tuple[Callable[[Plan], list[Case]], Callable[[], str], bool]] = {
    # name: (builder, requirement, heavy)
    "eval": (_eval, lambda: "", False),
    "eval_bench": (_eval_bench, _needs_bench_eval, False),
    "startup": (_startup, lambda: "", False),
    "run": (_run, lambda: "", False),
    "run_sim": (_run_sim, _needs_sim, False),
    "search": (_search, lambda: "", True),
    "simulate": (_simulate, _needs_sim, False),
    "sweep": (_sweep, _needs_sweep, False),
    "attention": (_attention, lambda: "", False),
}


def planned(plan: Plan, only: list[str] | None = None) -> list[tuple[str, Case | None, int, str]]:
    """(group, case or None, reps, skip reason) for every case of the chosen groups, in order."""
    out = []
    for group, (build, requirement, heavy) in GROUPS.items():
        if only and group not in only:
            continue
        reason = requirement()
        if reason:
            out.append((group, None, 0, reason))
            continue
        for case in build(plan):
            out.append((group, case, plan.heavy_reps if heavy else plan.reps, ""))
    return out
