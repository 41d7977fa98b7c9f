"""Cycle-approximate simulation of one layer's schedule (simpy): DRAM channel, GLB, one network
per data stream, the PE array; double buffering where the buffers allow; stalls by cause.

``simulate_layer(layer, arch, mapping, counts) -> SimResult`` is the entry point the pipeline calls
on fixed-shape archs; ``simulate_nest(problem, hierarchy, nest) -> SimResult`` simulates any
hierarchy (accelsim.sim.general);
``pass_flows`` shows one pass's traffic per stream, as the NoC models see it.

The names below are loaded on first use (PEP 562): importing ``accelsim.sim.result`` (the result
record every report reads) does not import simpy or numpy, so a ``--no-sim`` run never pays for them.
"""

from importlib import import_module

_WHERE = {
    "PassFlows": "accelsim.sim.flows", "pass_flows": "accelsim.sim.flows",
    "simulate_nest": "accelsim.sim.general", "unlimited_hierarchy": "accelsim.sim.general",
    "STALL_CAUSES": "accelsim.sim.result", "SimResult": "accelsim.sim.result", "save_trace": "accelsim.sim.result",
    "simulate_layer": "accelsim.sim.simulate", "simulate_sparse": "accelsim.sim.simulate", "unlimited": "accelsim.sim.simulate",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'accelsim.sim' has no attribute {name!r}")
    value = getattr(import_module(where), name)
    globals()[name] = value
    return value
