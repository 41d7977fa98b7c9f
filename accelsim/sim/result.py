"""What a layer's simulation returns, and its optional trace as a .npz."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STALL_CAUSES = ("dram", "glb", "noc", "fill_drain")


@dataclass(frozen=True)
class SimResult:
    """One layer's simulated timing.

    ``cycles`` = ``ideal_cycles`` + the sum of ``stall_cycles`` (dram, glb, noc, fill_drain), exactly.
    ``busy``: fraction of ``cycles`` each resource was busy (array = ideal / cycles; dram, glb,
    and one network per stream: noc_ifmap, noc_weight, noc_psum_in, noc_psum_out).
    ``eyexam``: the seven-step bound waterfall (accelsim.eyexam), when computed.
    """

    cycles: int
    ideal_cycles: int
    stall_cycles: dict
    busy: dict
    passes: int
    tiles: int
    blocks: int
    events: int
    prefetched: bool                    # every tile fetch fits the GLB free space (fully overlapped)
    exposed: dict                       # stream -> True when it cannot overlap the compute
    eyexam: tuple = ()
    trace: tuple | None = field(default=None, compare=False)
    words: dict | None = field(default=None, compare=False)   # general simulator: words moved per action-table entry

    def extra_fields(self) -> dict:
        """Per-layer fields for stats.json beyond cycles / ideal_cycles / stall_cycles."""
        out: dict[str, object] = {
            "busy": {k: round(v, 6) for k, v in self.busy.items()},
            "sim": {"passes": self.passes, "tiles": self.tiles, "blocks": self.blocks, "events": self.events,
                    "glb_prefetched": self.prefetched,
                    "exposed_streams": sorted(s for s, e in self.exposed.items() if e)},
        }
        if self.eyexam:
            out["eyexam"] = [s.as_dict() for s in self.eyexam]
        return out


def save_trace(result: SimResult, path: str | Path) -> Path:
    """Write the busy intervals of a simulation run with ``trace=True`` as a .npz
    (arrays ``resource`` (str), ``start``, ``end`` (cycles))."""
    import numpy as np

    if result.trace is None:
        raise ValueError("this SimResult has no trace: simulate with trace=True")
    path = Path(path)
    res = np.array([r for r, _, _ in result.trace], dtype=str)
    start = np.array([s for _, s, _ in result.trace], dtype=float)
    end = np.array([e for _, _, e in result.trace], dtype=float)
    np.savez_compressed(path, resource=res, start=start, end=end)
    return path
