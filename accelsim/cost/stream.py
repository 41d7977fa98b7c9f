"""The action table of a layer without MACs (pool, eltwise, activation) on any hierarchy: its input
read once from the backing store through the first buffer (a fill and a read there) and its output
written back once (an update and a drain there); no MACs, no compute cycles. One definition, used by
``accelsim.pipeline_hierarchy`` (a run) and ``accelsim.mapper.network`` (a lone node)."""

from __future__ import annotations

from accelsim.cost.actions import Actions
from accelsim.hierarchy import Hierarchy
from accelsim.names import DRAIN, FILL, IFMAP, PSUM, READ, UPDATE


def stream_actions(layer, hierarchy: Hierarchy) -> Actions:
    """``layer``: a ``workloads.layer.Layer`` without MACs (module docstring)."""
    ins, outs = layer.ifmap_elems, layer.output_elems
    top = hierarchy.levels[0].name
    storage = {(top, IFMAP, READ): ins, (top, PSUM, UPDATE): outs}
    if len(hierarchy.levels) > 1:
        first = hierarchy.levels[1].name
        storage.update({(first, IFMAP, FILL): ins, (first, IFMAP, READ): ins,
                        (first, PSUM, UPDATE): outs, (first, PSUM, DRAIN): outs})
    return Actions(0, 0, 0, storage, {})
