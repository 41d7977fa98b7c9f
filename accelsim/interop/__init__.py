"""Interoperability with other simulators' file formats (SCALE-Sim: accelsim.interop.scalesim)."""
