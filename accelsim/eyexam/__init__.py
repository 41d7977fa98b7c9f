"""Eyexam (Sze, Chen, Yang, Emer 2020): the seven-step performance bound waterfall per layer.

Above the mapper and the simulator: ``examine`` attaches the steps to a simulation's result (the
simulator itself never imports this package).
"""

from dataclasses import replace

from accelsim.eyexam.steps import STEP_NAMES, Step, steps


def examine(layer, arch, mapping, counts, dataflow: str, sim):
    """``sim`` (an accelsim.sim.SimResult of ``mapping``) with its ``eyexam`` steps filled in."""
    return replace(sim, eyexam=steps(layer, arch, mapping, counts, dataflow, sim))


__all__ = ["STEP_NAMES", "Step", "examine", "steps"]
