"""Systolic neighbour forwarding (TPU-like OS / WS / IS arrays).

Operands enter at the array's edges and move one PE per cycle: a stream that differs from row to
row enters on the west edge (one word per row per cycle), one that differs from column to column
on the north edge (one per column per cycle); the stationary operand is preloaded down the columns;
finished outputs (OS) or partial sums (WS, IS) leave through the south edge. Delivery cycles =
distinct words / edge ports.

The skew is paid per *fold* (one residency of the stationary tensor: OS psums, WS weights, IS
ifmaps), folds run one after another. Two conventions (parameter ``timing``):

- ``textbook`` (default): the ISPASS'19 SCALE-Sim paper's count, 2r + c + T - 2 cycles per fold,
  r x c the PEs the fold occupies: r + c - 2 to skew operands in and out across the array plus r
  to preload the stationary operand (WS, IS) or shift the finished outputs out of the columns
  (OS). It is the default because each term is a physical delay every fold pays on an array
  without double-buffered stationary registers, for all three dataflows alike.
- ``scalesim``: SCALE-Sim 3.0's code, to compare like for like: T + R + C - 2 per fold for OS and
  2R + C + T - 2 for WS and IS, R x C the whole array whatever the fold uses, and one cycle less
  for the whole layer.

``buffers: scalesim`` (with ``ifmap_sram_kb`` / ``filter_sram_kb``) replaces the DRAM traffic of a
layer run with SCALE-Sim's fixed mapping by SCALE-Sim 3.0's double-buffered SRAM policy
(accelsim/cost/scalesim_buffers.py); ``tiles`` (default) keeps the cost model's GLB tiles.

Energy: one hop per word a PE receives or sends (neighbour to neighbour).
"""

from __future__ import annotations

from noc.flow import Flow, Layout
from noc.model import NocModel, Param, Settings

TIMINGS = ("textbook", "scalesim")
BUFFERS = ("tiles", "scalesim")


def edge_ports(layout: Layout, stream: str) -> int:
    rows, cols = layout.varies_along_rows, layout.varies_along_cols
    if stream == "psum_out":
        return max(1, layout.cols_used)
    if rows and not cols:
        return max(1, layout.rows_used)
    if cols:
        return max(1, layout.cols_used)
    return 1


def delivery_cycles(flow: Flow, s: Settings) -> float:
    return flow.unique / (edge_ports(flow.layout, flow.stream) * s["words_per_cycle"])


def fold_skew(rows_used: int, cols_used: int, stationary: str, s: Settings, array_rows: int,
              array_cols: int) -> float:
    """Cycles one fold spends beyond its T compute steps."""
    if s["timing"] == "scalesim":
        if stationary == "psum":
            return array_rows + array_cols - 2
        return 2 * array_rows + array_cols - 2
    return 2 * rows_used + cols_used - 2


def fold_tail(s: Settings) -> float:
    """Added once per layer: SCALE-Sim 3.0 counts one cycle less than folds x per-fold."""
    return -1.0 if s["timing"] == "scalesim" else 0.0


MODEL = NocModel(
    name="systolic",
    title="systolic neighbour forwarding with fill/drain skew",
    params={
        "timing": Param(str, "textbook", "skew convention per fold", TIMINGS),
        "words_per_cycle": Param(float, 1.0, "words per edge port per cycle"),
        "buffers": Param(str, "tiles", "DRAM traffic of the GLB: tiles (it keeps the mapping's tiles) or scalesim "
                         "(SCALE-Sim 3.0's double-buffered SRAMs, for its fixed scalesim_* mappings)", BUFFERS),
        "ifmap_sram_kb": Param(float, None, "buffers: scalesim: the ifmap SRAM (default a third of the GLB)",
                               optional=True),
        "filter_sram_kb": Param(float, None, "buffers: scalesim: the filter SRAM (default a third of the GLB)",
                                optional=True),
    },
    delivery_cycles=delivery_cycles,
    fold_skew=fold_skew,
    fold_tail=fold_tail,
    unlimited=lambda s: {**s, "words_per_cycle": float("inf")},
)
