"""Per-action energy tables (Accelergy-style): pJ per word access at each level, per MAC, per NoC hop.

Presets are a registry of pure functions ``(word_bits, glb_kb, rf) -> EnergyTable``; an arch file
names one and may override single entries. Energy = action counts x this table, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accelsim.names import ROLES

TENSORS: tuple[str, ...] = ROLES             # the names live in accelsim.names


@dataclass(frozen=True)
class EnergyTable:
    """pJ per word (one datum of ``word_bits``) per action."""

    mac_pj: float
    rf_read_pj: tuple[float, ...]            # per tensor, TENSORS order
    rf_write_pj: tuple[float, ...]
    noc_hop_pj: float                        # one word over one hop / to one destination PE
    glb_read_pj: float
    glb_write_pj: float
    dram_read_pj: float
    dram_write_pj: float

    def as_dict(self) -> dict:
        return {
            "mac_pj": self.mac_pj,
            "rf_pj": {t: {"read": self.rf_read_pj[i], "write": self.rf_write_pj[i]} for i, t in enumerate(TENSORS)},
            "noc_hop_pj": self.noc_hop_pj,
            "glb_pj": {"read": self.glb_read_pj, "write": self.glb_write_pj},
            "dram_pj": {"read": self.dram_read_pj, "write": self.dram_write_pj},
        }


def _normalized(word_bits: int, glb_kb: float) -> EnergyTable:
    """Eyeriss ISCA'16 normalized costs (one 16-bit MAC = 1): DRAM 200, GLB 6, array 2, RF 1, MAC 1."""
    return EnergyTable(1.0, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 2.0, 6.0, 6.0, 200.0, 200.0)


def _accelergy_65nm(word_bits: int, glb_kb: float) -> EnergyTable:
    """Accelergy table plug-in values for the 65 nm eyeriss_like design (8-bit data).

    DRAM (LPDDR4, 8 pJ/bit) and the 64-bit-wide GLB move 64/word_bits words per access, so their
    per-word energy is the access energy divided by that. Spad and MAC values are per access.
    The reference table has no NoC entry; we charge none (state it in reports).
    """
    per_access_words = 64 / word_bits
    return EnergyTable(
        mac_pj=0.208,
        rf_read_pj=(0.202, 1.977, 0.251),
        rf_write_pj=(0.177, 1.882, 0.219),
        noc_hop_pj=0.0,
        glb_read_pj=18.18 / per_access_words,
        glb_write_pj=14.14 / per_access_words,
        dram_read_pj=512.0 / per_access_words,
        dram_write_pj=512.0 / per_access_words,
    )


def _timeloop_capacity(word_bits: int, glb_kb: float) -> EnergyTable:
    """Timeloop's placeholder model: SRAM energy per 16-bit access linear in capacity,
    1.0 at 0.5 kB and 6.0 at 100 kB (scaled by width/16); DRAM 200 x width/16; MAC (bits/16)^2."""
    scale = word_bits / 16

    def sram(kb: float) -> float:
        return (1.0 + (kb - 0.5) * (5.0 / 99.5)) * scale

    glb = sram(glb_kb)
    rf = sram(0.5)
    return EnergyTable(scale * scale, (rf, rf, rf), (rf, rf, rf), 2.0 * scale, glb, glb, 200 * scale, 200 * scale)


PRESETS: dict[str, Callable[[int, float], EnergyTable]] = {
    "normalized": _normalized,
    "accelergy_65nm": _accelergy_65nm,
    "timeloop_capacity": _timeloop_capacity,
}
