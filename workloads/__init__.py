"""Workloads: the layer type, the network zoo and importers."""

from workloads.layer import DIMS, Layer, LayerKind, Workload

__all__ = ["DIMS", "Layer", "LayerKind", "Workload"]
