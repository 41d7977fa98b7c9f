"""Lab 3: design a 168-PE accelerator under an area budget and map AlexNet onto it.

accelsim's architectures have no area model, so the lab defines one, deliberately simple (a teaching
table in made-up area units, au; its ratios follow the ISCA'16 equal-area rule that storage dominates
and that a byte of PE scratchpad costs more than a byte of SRAM buffer):

    area = PEs x 200 au (MAC, control)  +  PEs x RF bytes per PE x 1.0 au  +  GLB bytes x 0.5 au
    budget: 165,000 au

A design may change the PE array's shape (168 PEs), the per-PE register files, the GLB (size,
partitions, banks) and the dataflow; everything else stays Eyeriss v1's (:data:`FIXED`: clock, word
size, DRAM link, NoC, GLB bandwidth, the normalized energy table), so designs compete on the same
terms. The workload is AlexNet CONV1-CONV5 at batch 1; latency is simulated (accelsim.sim); EDP is
energy x latency summed over the five layers. Every answer is computed at grading time.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

from accelsim.arch import Arch, load_arch
from accelsim.labs.grading import Answers, Lab, Question
from accelsim.mapper.search import SearchSpec
from accelsim.mapping import load_mapping, mapping_from_dict
from accelsim.pipeline import Run, run
from workloads.layer import Workload
from workloads.loader import load_workload

PES = 168
PE_AU = 200.0
RF_AU_PER_BYTE = 1.0
GLB_AU_PER_BYTE = 0.5
BUDGET_AU = 165_000.0
CONV = ("CONV1", "CONV2", "CONV3", "CONV4", "CONV5")
SEARCH = SearchSpec(objective="edp", budget=2000, seed=0)
MAPPING_FILE = "lab3_conv3_mapping.yaml"           # the hand-written mapping, beside the lab notebook
LABS_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "labs"
FIXED = ("clock_mhz", "word_bits", "dram", "noc", "energy_preset", "energy")


def area(arch: Arch) -> float:
    """The lab's area of ``arch`` in au (see the module docstring)."""
    rf_bytes = arch.rf.total_words * arch.word_bits / 8
    glb_bytes = arch.glb.size_kb * 1024
    return arch.pes * (PE_AU + rf_bytes * RF_AU_PER_BYTE) + glb_bytes * GLB_AU_PER_BYTE


def problems(arch: Arch) -> list[str]:
    """Why ``arch`` is not an acceptable design (empty: acceptable)."""
    ref = load_arch("eyeriss_v1")
    out = []
    if arch.pes != PES:
        out.append(f"{arch.pes} PEs, the lab asks for {PES}")
    if area(arch) > BUDGET_AU:
        out.append(f"area {area(arch):,.0f} au is over the {BUDGET_AU:,.0f} au budget")
    changed = [k for k in FIXED if getattr(arch, k) != getattr(ref, k)]
    if arch.glb.bandwidth_words_per_cycle > ref.glb.bandwidth_words_per_cycle:
        changed.append("glb.bandwidth_words_per_cycle")
    if changed:
        out.append(f"changes {', '.join(changed)}, which must stay eyeriss_v1's")
    return out


def _design_problem(path: Path) -> str | None:
    found = problems(load_arch(path))
    return "; ".join(found) if found else None


def conv_layers() -> Workload:
    w = load_workload("alexnet", 1)
    return replace(w, layers=tuple(x for x in w.layers if x.name in CONV))


@cache
def _run(arch_path: str, searched: bool, mapping_file: str | None = None) -> Run:
    arch = load_arch(arch_path)
    w = conv_layers()
    if mapping_file is not None:
        w = replace(w, layers=tuple(x for x in w.layers if x.name == "CONV3"))
        return run(arch, w, mappings={"CONV3": load_mapping(mapping_file)}, simulate=True)
    return run(arch, w, search_spec=SEARCH if searched else None, simulate=True)


def totals(r: Run) -> dict[str, float]:
    """Energy (uJ; normalized units: 1 pJ = one MAC's energy), simulated latency (ms), EDP (uJ x ms)."""
    energy = sum(x.result.energy_pj for x in r.layers) / 1e6
    latency = sum(x.cycles for x in r.layers) / (r.arch.clock_mhz * 1e3)
    macs = sum(x.result.macs for x in r.layers)
    return {"energy_uj": energy, "latency_ms": latency, "edp": energy * latency,
            "pj_per_mac": energy * 1e6 / macs}


def design(a: Answers, searched: bool = False) -> dict[str, float]:
    return totals(_run(str(a.path("q4")), searched))


REORDERED = "GNCKPQRS"          # q11: the named mapping's DRAM loops with channel blocks outside filter blocks


@cache
def _reordered_conv3() -> Run:
    from dataflows import registry

    v1 = load_arch("eyeriss_v1")
    w = conv_layers()
    w = replace(w, layers=tuple(x for x in w.layers if x.name == "CONV3"))
    spec = registry.get(v1.dataflow).named(w.layers[0], v1).to_dict()
    spec["dram"]["order"] = REORDERED
    return run(v1, w, mappings={"CONV3": mapping_from_dict(spec)}, simulate=True)


def conv3_run(which: str) -> Run:
    """CONV3 on eyeriss_v1 under the hand-written mapping file, the named mapping, the mapper's, or the
    named mapping with the DRAM loop order :data:`REORDERED` ("reordered")."""
    if which == "hand-written":
        return _run("eyeriss_v1", False, str(LABS_DIR / MAPPING_FILE))
    if which == "reordered":
        return _reordered_conv3()
    r = _run("eyeriss_v1", which == "searched")
    return replace(r, layers=tuple(x for x in r.layers if x.result.layer.name == "CONV3"))


def conv3(which: str) -> dict[str, float]:
    return totals(conv3_run(which))


def dram_words(r: Run) -> dict[str, int]:
    """DRAM reads + writes per tensor, summed over the run's layers."""
    out: dict[str, int] = {}
    for x in r.layers:
        for tensor, rw in x.result.counts.as_dict()["dram"].items():
            out[tensor] = out.get(tensor, 0) + rw["reads"] + rw["writes"]
    return out


def _grows_most(_) -> str:
    before, after = dram_words(conv3_run("named")), dram_words(conv3_run("reordered"))
    return max(sorted(after), key=lambda t: after[t] - before[t])


def _best_conv3(_) -> str:
    edp = {w: conv3(w)["edp"] for w in ("hand-written", "named", "searched")}
    return min(edp, key=lambda w: (edp[w], w))


def _v1_glb_room(_) -> float:
    v1 = load_arch("eyeriss_v1")
    without_glb = area(v1) - v1.glb.size_kb * 1024 * GLB_AU_PER_BYTE
    return (BUDGET_AU - without_glb) / GLB_AU_PER_BYTE / 1024


LAB = Lab(
    name="design",
    title="Design a 168-PE accelerator under an area budget; map AlexNet onto it",
    notebook="lab3_design.ipynb",
    minutes=90,
    prerequisites="notebook 03 (dataflows on AlexNet); labs 1-2; writing an arch YAML (docs/arch.md)",
    questions=(
        Question("q1", "area of eyeriss_v1 under the lab's table", "number",
                 "PEs x (200 + RF bytes per PE) + GLB bytes x 0.5; the RF is 12 + 224 + 24 words of 2 bytes",
                 answer=lambda a: area(load_arch("eyeriss_v1")), unit="au", rel_tol=0.005),
        Question("q2", "does eyeriss_v1 fit the 165,000 au budget?", "choice", "compare q1 with the budget",
                 answer=lambda a: "yes" if area(load_arch("eyeriss_v1")) <= BUDGET_AU else "no",
                 choices=("yes", "no")),
        Question("q3", "with eyeriss_v1's PEs and scratchpads, the largest GLB that fits the budget", "number",
                 "subtract the PEs and RFs from the budget; 0.5 au per GLB byte, 1 kB = 1024 B",
                 answer=_v1_glb_room, unit="kB", rel_tol=0.01),
        Question("q4", "your design: an arch YAML", "file",
                 f"{PES} PEs within {BUDGET_AU:,.0f} au, with eyeriss_v1's clock, word size, DRAM, NoC and "
                 "energy table", validate=_design_problem),
        Question("q5", "your design, AlexNet CONV1-5, named mapping: energy", "number",
                 "the total of accelsim run's 'energy uJ' column over CONV1-CONV5 (--layers)",
                 answer=lambda a: design(a)["energy_uj"], unit="uJ"),
        Question("q6", "the same: simulated latency", "number", "the 'latency' line of accelsim run",
                 answer=lambda a: design(a)["latency_ms"], unit="ms"),
        Question("q7", "your design with the mapper (--search --objective edp --search-budget 2000 --seed 0): energy",
                 "number", "the search's total energy over CONV1-CONV5",
                 answer=lambda a: design(a, True)["energy_uj"], unit="uJ"),
        Question("q8", "EDP of the named mapping / EDP of the searched one, on your design", "number",
                 "EDP = total energy x total simulated latency, for each run",
                 answer=lambda a: design(a)["edp"] / design(a, True)["edp"], rel_tol=0.02),
        Question("q9", f"eyeriss_v1, CONV3 under the hand-written mapping {MAPPING_FILE}: energy per MAC",
                 "number", "accelsim run eyeriss_v1 --layers CONV3 --mapping FILE: the pJ/MAC column",
                 answer=lambda a: conv3("hand-written")["pj_per_mac"], unit="pJ/MAC (normalized)"),
        Question("q10", "eyeriss_v1, CONV3: the mapping with the lowest EDP", "choice",
                 "EDP of CONV3 under each: the hand-written file, the named mapping, the mapper's (edp, 2000, seed 0)",
                 answer=_best_conv3, choices=("hand-written", "named", "searched")),
        Question("q11", f"eyeriss_v1, CONV3: the named mapping with its DRAM loop order set to {REORDERED} "
                 "(channel blocks outside filter blocks): energy per MAC", "number",
                 "write the named mapping out (Mapping.to_dict or accelsim run --out), change dram.order, "
                 "evaluate it as a hand-written mapping", answer=lambda a: conv3("reordered")["pj_per_mac"],
                 unit="pJ/MAC (normalized)"),
        Question("q12", "... the tensor whose DRAM traffic grows the most with that order", "choice",
                 "compare accesses.dram per tensor under both orders: which tensor is no longer finished "
                 "before the loop that does not index it moves on?", answer=_grows_most,
                 choices=("ifmap", "weight", "psum")),
    ),
)
