"""Roofline analysis: operational intensity, attainable performance, fusion and Winograd.

Modules: ``hardware`` (presets in configs/hw, or any accelsim arch), ``model`` (per-layer and per-model
roofline under reference/roofline.md's definitions), ``fusion`` (bias/activation epilogues; tiled conv
chains with halo recomputation, via accelsim.halo), ``winograd`` (F(m x m, r x r) counts and transforms),
``report`` (the analysis bundle, JSON and table the CLI prints).
"""
