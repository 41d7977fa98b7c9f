"""Data- and model-parallel training scale-out: compute time from a roofline, communication per strategy
(parameter server, sharded parameter server, reduction tree, ring, asynchronous, model parallel).

Modules: ``compute`` (training FLOPs/bytes and step time), ``interconnect`` (presets, alpha-beta message
time), ``strategies`` (one cost function per strategy, a registry), ``scaleout`` (speedup curves),
``published`` (FireCaffe's figures the tests compare with).
"""
