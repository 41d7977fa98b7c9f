"""Lab 4: Eyexam, what limits a MobileNet layer on Eyeriss v1 and on v2.

MobileNet v1 at batch 1, layers conv3_dw (3x3 depthwise) and conv3_pw (1x1), each chip with its own
dataflow's named mapping, costed (accelsim.cost.model) and simulated (accelsim.sim) with the Eyexam
steps (reference/eyexam.md). "Own link": the shipped configs' 0.72 GB/s off-chip link; "fast link":
the same chips with 25.6 GB/s, where the on-chip limits show. Every answer is computed at grading time.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from accelsim.arch import Arch, load_arch
from accelsim.cost.model import evaluate
from accelsim.eyexam import examine
from accelsim.labs.grading import Lab, Question
from accelsim.sim import SimResult, simulate_layer
from workloads.loader import load_workload

FAST_GB_PER_S = 25.6
CHIPS = {"v1": "eyeriss_v1", "v2": "eyeriss_v2_flat"}
STEPS = tuple(str(i) for i in range(1, 8))


def chip(name: str, fast: bool) -> Arch:
    arch = load_arch(CHIPS[name])
    return replace(arch, dram=replace(arch.dram, bandwidth_gb_per_s=FAST_GB_PER_S)) if fast else arch


@cache
def exam(name: str, layer_name: str, fast: bool) -> SimResult:
    """The Eyexam steps (and the simulation) of one MobileNet v1 layer on one chip."""
    from dataflows import registry

    arch = chip(name, fast)
    layer = next(x for x in load_workload("mobilenet_v1", 1).layers if x.name == layer_name)
    flow = registry.get(arch.dataflow)
    m = flow.named(layer, arch)
    result = evaluate(layer, arch, m)
    sim = simulate_layer(layer, arch, m, result.counts)
    return examine(layer, arch, m, result.counts, flow.name, sim)


def bound(name: str, layer_name: str, fast: bool, step: int) -> float:
    return exam(name, layer_name, fast).eyexam[step - 1].macs_per_cycle


def biggest_loss(name: str, layer_name: str, fast: bool) -> str:
    """The step (2-7) whose bound falls furthest below the previous step's, relative to it."""
    values = [s.macs_per_cycle for s in exam(name, layer_name, fast).eyexam]
    # steps 1-2 are the workload's and the dataflow's parallelism, far above any array: the lab asks
    # about the steps the hardware sets, from 3 on
    ratios = {i + 1: values[i] / values[i - 1] for i in range(3, len(values))}
    return str(min(ratios, key=lambda s: (ratios[s], s)))


def worst_stall(name: str, layer_name: str, fast: bool) -> str:
    stalls = exam(name, layer_name, fast).stall_cycles
    return max(sorted(stalls), key=lambda c: stalls[c])


LAB = Lab(
    name="eyexam",
    title="Eyexam: what limits a MobileNet layer on Eyeriss v1 vs v2",
    notebook="lab4_eyexam.ipynb",
    minutes=60,
    prerequisites="notebooks 04 (Eyexam) and 05 (NoC modes); lab 1 (roofline)",
    questions=(
        Question("q1", "conv3_dw on v1: the step-4 bound (PEs the array shape lets work)", "integer",
                 "RS puts filter rows (R = 3) on the array rows and cannot spread depthwise groups there",
                 answer=lambda a: round(bound("v1", "conv3_dw", False, 4)), unit="MACs/cycle"),
        Question("q2", "conv3_dw on v2: the step-4 bound", "integer",
                 "RS+ maps groups onto the rows RS leaves idle",
                 answer=lambda a: round(bound("v2", "conv3_dw", False, 4)), unit="MACs/cycle"),
        Question("q3", "conv3_dw on v1 with its own link: the step-6 bound", "number",
                 "step 6 is a roofline per level: MACs / (words / bandwidth); at batch 1 DRAM dominates",
                 answer=lambda a: bound("v1", "conv3_dw", False, 6), unit="MACs/cycle", rel_tol=0.02),
        Question("q4", "conv3_dw, own link: v2's step-6 bound / v1's", "number",
                 "both chips are behind the same link and move about the same words",
                 answer=lambda a: bound("v2", "conv3_dw", False, 6) / bound("v1", "conv3_dw", False, 6),
                 rel_tol=0.02),
        Question("q5", "conv3_dw on v1, fast link: the step (3-7) that loses the largest share of the previous "
                 "step's bound", "choice", "compare each step's bound with the one before it (a ratio)",
                 answer=lambda a: biggest_loss("v1", "conv3_dw", True), choices=STEPS),
        Question("q6", "conv3_pw on v1, fast link: the step (3-7) that loses the largest share", "choice",
                 "compare each step's bound with the one before it (a ratio)",
                 answer=lambda a: biggest_loss("v1", "conv3_pw", True), choices=STEPS),
        Question("q7", "conv3_pw on v1, fast link: the stall cause with the most cycles", "choice",
                 "the simulation's stall_cycles attribute every cycle beyond the compute to one cause",
                 answer=lambda a: worst_stall("v1", "conv3_pw", True), choices=("dram", "glb", "noc", "fill_drain")),
        Question("q8", "conv3_pw, fast link: v2's simulated MACs/cycle (step 7) / v1's", "number",
                 "step 7 is the simulated performance; v2's mesh carries psums in parallel per cluster",
                 answer=lambda a: bound("v2", "conv3_pw", True, 7) / bound("v1", "conv3_pw", True, 7),
                 rel_tol=0.02),
    ),
)
