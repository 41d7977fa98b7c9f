"""reference/dataflow_1d.md, rebuilt from the general cost model.

A 1-D convolution O[e] += I[e+r] * W[r] is a layer with one channel, one row, Q = E outputs, S = R
taps and W = E + R - 1 inputs. The "buffer outside the PE" is the GLB; the PE's register is a
one-word RF for the stationary tensor and there are no other operand registers. Each dataflow is
only a loop order plus what the PE keeps:

- OS: for e: for r (Q outer, S inner at the GLB); the PE keeps the psum;
- WS: for r: for e (S outer, Q inner); the PE keeps the weight;
- IS: the table's ``for h: for r`` with O[h-r] is a skewed nest the (e, r) loop space cannot
  express with a one-word register; the general model gets input stationarity by letting the PE
  keep the whole input row (an RF holding W words, all loops inside the PE), which reads each input
  from outside once. Weight and psum counts are the table's.
"""

from __future__ import annotations

import pytest

from accelsim.cost.counts import L_DRAM, count
from accelsim.interpreter import interpret
from accelsim.labs import conv1d

PSUM = 2


def _outside(E: int, R: int, flow: str) -> dict:
    """accelsim.labs.conv1d's counts (what notebook 01 and lab 2 show), each checked by brute force."""
    layer, m = conv1d.layer(E, R), conv1d.mapping(flow, E, R)
    c = count(layer, m)
    assert c == interpret(layer, m)
    assert c.writes[L_DRAM][PSUM] == E and c.reads[L_DRAM][PSUM] == 0      # each output drained once
    return conv1d.outside_buffer(flow, E, R)


@pytest.mark.parametrize("E,R", [(1, 1), (4, 3), (7, 5), (16, 3), (9, 9), (5, 1)])
def test_table_rebuilt(E, R):
    H = E + R - 1
    table = {  # reference/dataflow_1d.md, row by row
        "OS": {"macs": E * R, "weight_reads": E * R, "input_reads": E * R, "psum_reads": 0, "output_writes": E},
        "WS": {"macs": E * R, "weight_reads": R, "input_reads": E * R, "psum_reads": E * R, "output_writes": E * R},
        "IS": {"macs": E * R, "weight_reads": E * R, "input_reads": H, "psum_reads": E * R, "output_writes": E * R},
    }
    rows = {flow: _outside(E, R, flow) for flow in table}
    print(f"\nE={E} R={R}")
    for key in table["OS"]:
        print(f"  {key:14s} " + "  ".join(f"{flow} {rows[flow][key]:4d}" for flow in table))
    assert rows == table


def test_each_dataflow_minimises_its_namesake():
    """The table's point: OS never re-reads a psum, WS reads each weight once, IS each input once."""
    rows = {flow: _outside(8, 3, flow) for flow in ("OS", "WS", "IS")}
    assert min(rows, key=lambda f: rows[f]["psum_reads"]) == "OS"
    assert min(rows, key=lambda f: rows[f]["weight_reads"]) == "WS"
    assert min(rows, key=lambda f: rows[f]["input_reads"]) == "IS"
