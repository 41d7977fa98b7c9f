"""Resolve ``--workload`` values: a zoo name or a file (.yaml/.yml, .csv SCALE-Sim topology, .onnx)."""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import ConfigError
from workloads.layer import Workload


def load_workload(spec: str, batch: int | None = None) -> Workload:
    """A zoo network by name or a workload file; ``batch`` overrides N of every layer."""
    from workloads import zoo

    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".csv", ".onnx") or path.exists():
        importer = _IMPORTERS.get(suffix)
        if importer is None:
            raise ConfigError(f"unknown workload file type {suffix!r}; allowed: .yaml, .yml, .csv, .onnx",
                              source=spec)
        workload = importer(path)
    else:
        workload = zoo.get(spec)
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a positive integer, got {batch!r}")
        workload = workload.with_batch(batch)
    return workload


def _yaml(path: Path) -> Workload:
    from workloads.yaml_file import load_yaml_workload

    return load_yaml_workload(path)


def _csv(path: Path) -> Workload:
    from workloads.scalesim_csv import load_topology_csv

    return load_topology_csv(path)


def _onnx(path: Path) -> Workload:
    from workloads.onnx_file import load_onnx

    return load_onnx(path)


_IMPORTERS = {".yaml": _yaml, ".yml": _yaml, ".csv": _csv, ".onnx": _onnx}
