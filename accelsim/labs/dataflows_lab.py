"""Lab 2: dataflows and reuse on 1-D and 2-D convolutions, and the access table.

Part A is reference/dataflow_1d.md's table at E = 12 outputs, R = 4 taps (accelsim.labs.conv1d, the
general cost model). Part B is row stationary on a 7 x 7 input, 3 x 3 filter, 5 x 5 output on a 3 x 5
array (the rs dataflow's named mapping on :func:`tiny_arch`). Part C reads the access table of
AlexNet on Eyeriss v1 (batch 1, the named mapping): what ``accelsim run --json`` reports per level and
tensor. Every answer is computed with accelsim.cost.counts at grading time.
"""

from __future__ import annotations

from functools import cache

from accelsim.arch import Arch, arch_from_dict, load_arch
from accelsim.cost.counts import count
from accelsim.cost.model import LayerResult, evaluate
from accelsim.labs import conv1d
from accelsim.labs.grading import Lab, Question
from workloads.layer import Layer
from workloads.loader import load_workload

E, R = 12, 4


def tiny_arch() -> Arch:
    return arch_from_dict({
        "version": 1, "name": "rs_3x5", "clock_mhz": 100, "word_bits": 16,
        "pe_array": {"rows": 3, "cols": 5}, "rf": {"shared_words": 32},
        "glb": {"size_kb": 4, "banks": 1, "bandwidth_words_per_cycle": 15}, "noc": {"type": "bus"},
    })


def tiny_layer() -> Layer:
    return Layer("tiny", C=1, K=1, H=7, W=7, R=3, S=3)


@cache
def tiny_accesses() -> dict:
    from dataflows import registry

    arch, layer = tiny_arch(), tiny_layer()
    c = count(layer, registry.get("rs").named(layer, arch))
    return {"macs": c.macs, "cycles": c.cycles, **c.as_dict()}


@cache
def alexnet_layer(name: str) -> LayerResult:
    from dataflows import registry

    arch = load_arch("eyeriss_v1")
    layer = next(x for x in load_workload("alexnet", 1).layers if x.name == name)
    return evaluate(layer, arch, registry.get("rs").named(layer, arch))


def one_d(flow: str, row: str) -> int:
    return conv1d.outside_buffer(flow, E, R)[row]


def fewest(row: str) -> str:
    table = {flow: one_d(flow, row) for flow in conv1d.FLOWS}
    return min(conv1d.FLOWS, key=lambda f: table[f])


def _weights_read_once(_) -> str:
    c = alexnet_layer("CONV2")
    return "yes" if c.counts.as_dict()["dram"]["weight"]["reads"] == c.layer.weight_elems else "no"


FLOWS = tuple(f.lower() for f in conv1d.FLOWS)
TABLE = "reference/dataflow_1d.md's table; a PE reads from outside whatever it does not keep"

LAB = Lab(
    name="dataflows",
    title="Dataflows and reuse: 1-D and 2-D convolutions, the access table",
    notebook="lab2_dataflows.ipynb",
    minutes=60,
    prerequisites="notebooks 01 (1-D dataflows) and 02 (row stationary); loop nests",
    questions=(
        Question("q1", f"1-D, E = {E}, R = {R}: weight reads from the outside buffer under OS", "integer", TABLE,
                 answer=lambda a: one_d("OS", "weight_reads"), unit="words"),
        Question("q2", "the same, under WS", "integer", "WS keeps each weight in the PE while e runs",
                 answer=lambda a: one_d("WS", "weight_reads"), unit="words"),
        Question("q3", "input reads under IS", "integer", "IS reads each of the H = E + R - 1 inputs once",
                 answer=lambda a: one_d("IS", "input_reads"), unit="words"),
        Question("q4", "psum reads under WS", "integer", "WS keeps no psum in the PE: every MAC reads its partial sum "
                 "from outside (the table's psum row)", answer=lambda a: one_d("WS", "psum_reads"), unit="words"),
        Question("q5", "the dataflow that writes each output exactly once", "choice",
                 "the dataflow whose PE keeps the psum until it is finished", answer=lambda a: fewest(
                     "output_writes").lower(), choices=FLOWS),
        Question("q6", "the dataflow with the fewest outside reads in all (weights + inputs + psums)", "choice",
                 "add the three read rows of the table for each dataflow",
                 answer=lambda a: min(FLOWS, key=lambda f: sum(one_d(f.upper(), r) for r in
                                                               ("weight_reads", "input_reads", "psum_reads"))),
                 choices=FLOWS),
        Question("q7", "2-D RS (7x7 input, 3x3 filter, 3x5 array): ifmap words read from the GLB", "integer",
                 "each input leaves the buffer once and is multicast along a diagonal of PEs",
                 answer=lambda a: tiny_accesses()["glb"]["ifmap"]["reads"], unit="words"),
        Question("q8", "ifmap words delivered to PEs over the array network (a multicast counts per PE)", "integer",
                 "PE (i, j) receives the whole input row i + j (7 words); count PEs x words",
                 answer=lambda a: tiny_accesses()["noc"]["ifmap"]["reads"], unit="words"),
        Question("q9", "weight words delivered to PEs", "integer",
                 "filter row i goes to every PE of array row i (5 columns)",
                 answer=lambda a: tiny_accesses()["noc"]["weight"]["reads"], unit="words"),
        Question("q10", "psum words the PEs send over the array network", "integer",
                 "at each of the 5 output-column steps every PE hands on one psum (up its column or out)",
                 answer=lambda a: tiny_accesses()["noc"]["psum"]["writes"], unit="words"),
        Question("q11", "cycles (temporal steps) of the 2-D RS schedule", "integer",
                 "225 MACs on the PEs the mapping keeps busy, one MAC per PE per cycle",
                 answer=lambda a: tiny_accesses()["cycles"], unit="cycles"),
        Question("q12", "AlexNet CONV2 on eyeriss_v1 (batch 1, named mapping): ifmap words read from DRAM",
                 "integer", "read it from the access table (accesses.dram.ifmap.reads)",
                 answer=lambda a: alexnet_layer("CONV2").counts.as_dict()["dram"]["ifmap"]["reads"], unit="words"),
        Question("q13", "... is every CONV2 weight read from DRAM exactly once?", "choice",
                 "compare accesses.dram.weight.reads with the layer's number of weights (K x C/G x R x S)",
                 answer=_weights_read_once, choices=("yes", "no")),
    ),
)
