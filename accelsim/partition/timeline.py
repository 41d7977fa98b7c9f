"""A plan laid out in time: what the CPU and the GPU do, segment after segment (for the Gantt chart).

Per segment, in CoDL's additive form: pre-synchronisation (both processors), the CPU making its input
usable (transform + map; the GPU waits), both processors computing their parts back to back, then the
CPU sharing its output. A GPU-only segment is just the GPU's compute.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.partition.planner import Plan

PROCESSORS = ("CPU", "GPU")
KINDS = ("compute", "sharing", "sync")


@dataclass(frozen=True)
class Event:
    processor: str   # "CPU" or "GPU"
    start_ms: float
    end_ms: float
    kind: str        # "compute", "sharing" or "sync"
    label: str


def events(plan: Plan) -> list[Event]:
    out: list[Event] = []
    t = 0.0
    for seg in plan.segments:
        name = seg.ops[0].layer if len(seg.ops) == 1 else f"{seg.ops[0].layer}..{seg.ops[-1].layer}"
        if seg.presync_ms > 0:
            for proc in ("CPU", "GPU"):
                out.append(Event(proc, t, t + seg.presync_ms, "sync", f"pre-sync {name}"))
            t += seg.presync_ms
        if seg.share_in_ms > 0:
            out.append(Event("CPU", t, t + seg.share_in_ms, "sharing", f"share in {name}"))
            t += seg.share_in_ms
        for proc, attr in (("CPU", "cpu_ms"), ("GPU", "gpu_ms")):
            c = t
            for op in seg.ops:
                d = getattr(op, attr)
                if d > 0:
                    out.append(Event(proc, c, c + d, "compute", op.layer))
                    c += d
        t += seg.compute_ms
        if seg.share_out_ms > 0:
            out.append(Event("CPU", t, t + seg.share_out_ms, "sharing", f"share out {name}"))
            t += seg.share_out_ms
    return out
