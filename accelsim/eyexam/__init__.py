"""Eyexam (Sze, Chen, Yang, Emer 2020): the seven-step performance bound waterfall per layer."""

from accelsim.eyexam.steps import STEP_NAMES, Step, steps

__all__ = ["STEP_NAMES", "Step", "steps"]
