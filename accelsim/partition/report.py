"""Plans of every planner for one workload on one SoC, their summary metrics and the JSON document.

Metrics (docs/partition.md defines each one again for readers):

- ``latency_ms[name]``: predicted end-to-end latency of each plan (sum of its segments);
- ``speedup[b]``: ``latency_ms[b] / latency_ms["codl"]`` for each baseline ``b``;
- ``sharing_ms[name]``: pre-sync + transform + map time in the plan;
- ``chain_sharing_saved_ms``: ``sharing_ms["codl_no_chains"] - sharing_ms["codl"]``;
- ``coexecuted``: operators with a CPU share strictly between 0 and 1; ``h_share``: the fraction of
  those split along H (CoDL: 77%);
- ``cpu_alone``: the CoDL plan is the whole network on the CPU alone (the best plan found using the GPU was slower);
- ``chains``: lengths of the chains (segments of two or more operators in which the CPU computes something);
- ``redundant_rows``: output rows computed on both processors because of chain halos;
- per operator (``plan``): ``gpu_share`` (``1 - ratio``, the GPU's share of the output), ``dim`` (the
  split dimension), ``chain`` and ``chain_pos`` (``head`` / ``inside`` / ``tail`` of its chain: the chain
  boundaries, where data are shared).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.partition.planner import PLANNERS, Plan
from accelsim.partition.segment import Device
from accelsim.partition.soc import SoC
from workloads.layer import Workload

SCHEMA = "accelsim.partition/1"


@dataclass(frozen=True)
class Result:
    soc: SoC
    workload: Workload
    plans: tuple[Plan, ...]

    def plan(self, name: str) -> Plan:
        for p in self.plans:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def codl(self) -> Plan:
        return self.plan("codl")

    def latency_ms(self) -> dict[str, float]:
        return {p.name: p.latency_ms for p in self.plans}

    def speedup(self) -> dict[str, float]:
        base = self.codl.latency_ms
        return {p.name: p.latency_ms / base for p in self.plans if p.name not in ("codl", "codl_no_chains")}

    def sharing_ms(self) -> dict[str, float]:
        return {p.name: p.sharing_ms for p in self.plans}

    @property
    def chain_sharing_saved_ms(self) -> float:
        return self.plan("codl_no_chains").sharing_ms - self.codl.sharing_ms

    def coexecuted(self) -> list:
        return [op for seg in self.codl.segments for op in seg.ops if 0 < op.tenths < 10]

    @property
    def h_share(self) -> float | None:
        co = self.coexecuted()
        return sum(1 for op in co if op.dim == "H") / len(co) if co else None

    @property
    def chains(self) -> list[int]:
        return [len(s.ops) for s in self.codl.segments if s.is_chain]

    @property
    def cpu_alone(self) -> bool:
        """Whether the CoDL plan is the whole network on the CPU alone (the planner's fallback when no plan
        with the GPU beats it: :mod:`accelsim.partition.planner`)."""
        return self.codl.segments == self.plan("cpu_only").segments

    @property
    def redundant_rows(self) -> int:
        return sum(op.redundant_rows for s in self.codl.segments for op in s.ops)


def run(soc: SoC, workload: Workload) -> Result:
    device = Device.of(soc)
    return Result(soc, workload, tuple(planner(device, workload) for planner in PLANNERS.values()))


def plan_rows(plan: Plan) -> list[dict]:
    """Per operator: split, chain, each processor's compute and the operator's latency.

    ``latency_ms`` of an operator is ``max(CPU part, GPU part)`` plus the sharing charged to it (a
    segment's pre-sync and input sharing go to its first operator, output sharing to its last). In a
    chain the processors do not wait for each other between operators, so the chain's latency
    (``max(sum CPU, sum GPU)`` + sharing) can be less than the sum of its operators' values.
    """
    rows = []
    chain_id = 0
    for index, seg in enumerate(plan.segments):
        chain = None
        if seg.is_chain:
            chain_id += 1
            chain = chain_id
        for pos, op in enumerate(seg.ops):
            where = None
            if seg.is_chain:
                where = "head" if pos == 0 else "tail" if pos == len(seg.ops) - 1 else "inside"
            charged = op.compute_ms
            if pos == 0:
                charged += seg.presync_ms + seg.share_in_ms
            if pos == len(seg.ops) - 1:
                charged += seg.share_out_ms
            rows.append({"layer": op.layer, "dim": op.dim, "ratio": op.ratio, "gpu_share": round(1 - op.ratio, 1),
                         "chain": chain, "chain_pos": where,
                         "segment": index, "cpu_ms": op.cpu_ms, "gpu_ms": op.gpu_ms, "latency_ms": charged,
                         "cpu_impl": op.cpu_impl, "gpu_impl": op.gpu_impl, "redundant_rows": op.redundant_rows})
    return rows


def segment_rows(plan: Plan) -> list[dict]:
    return [{"segment": i, "first": s.ops[0].layer, "last": s.ops[-1].layer, "ops": len(s.ops),
             "cpu_ms": s.cpu_ms, "gpu_ms": s.gpu_ms, "presync_ms": s.presync_ms,
             "share_in_ms": s.share_in_ms, "share_out_ms": s.share_out_ms,
             "share_in_bytes": s.share_in_bytes, "share_out_bytes": s.share_out_bytes,
             "latency_ms": s.latency_ms} for i, s in enumerate(plan.segments)]


def _round(value, digits: int = 6):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    return value


def timeline_dict(result: Result) -> dict:
    """Every plan laid out in time (:func:`accelsim.partition.timeline.events`), for the Gantt chart."""
    from dataclasses import asdict

    from accelsim.partition.timeline import events

    return {p.name: [asdict(e) for e in events(p)] for p in result.plans if p.name != "codl_no_chains"}


def to_dict(result: Result, soc_label: str, timeline: bool = False) -> dict:
    """The ``accelsim.partition/1`` JSON document (with ``timeline``: every plan's events too)."""
    doc = {
        "schema": SCHEMA,
        "soc": soc_label,
        "soc_name": result.soc.name,
        "workload": result.workload.name,
        "latency_ms": result.latency_ms(),
        "speedup": result.speedup(),
        "sharing_ms": result.sharing_ms(),
        "chain_sharing_saved_ms": result.chain_sharing_saved_ms,
        "coexecuted_ops": len(result.coexecuted()),
        "ops": len(result.workload.layers),
        "h_share": result.h_share,
        "chains": result.chains,
        "cpu_alone": result.cpu_alone,
        "redundant_rows": result.redundant_rows,
        "plan": plan_rows(result.codl),
        "segments": segment_rows(result.codl),
    }
    if timeline:
        doc["timeline"] = timeline_dict(result)
    return _round(doc)
