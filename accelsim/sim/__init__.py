"""Cycle-approximate simulation of one layer's schedule (simpy): DRAM channel, GLB, one network
per data stream, the PE array; double buffering where the buffers allow; stalls by cause.

``simulate_layer(layer, arch, mapping, counts) -> SimResult`` is the entry point the pipeline calls
on fixed-shape archs; ``simulate_nest(problem, hierarchy, nest) -> SimResult`` simulates any
hierarchy (accelsim.sim.general);
``pass_flows`` shows one pass's traffic per stream, as the NoC models see it.
"""

from accelsim.sim.flows import PassFlows, pass_flows
from accelsim.sim.general import simulate_nest, unlimited_hierarchy
from accelsim.sim.result import STALL_CAUSES, SimResult, save_trace
from accelsim.sim.simulate import simulate_layer, unlimited

__all__ = ["STALL_CAUSES", "PassFlows", "SimResult", "pass_flows", "save_trace", "simulate_layer", "simulate_nest",
           "unlimited", "unlimited_hierarchy"]
