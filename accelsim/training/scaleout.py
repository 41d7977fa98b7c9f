"""Speedup and efficiency curves of training on 1..p workers, per strategy.

speedup(p) = iteration time on one worker (no communication) / iteration time on p workers, for the
same global batch (so the same number of epochs); efficiency = speedup / p.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accelsim import __version__
from accelsim.errors import ConfigError
from accelsim.roofline.hardware import Hardware
from accelsim.roofline.model import hardware_dict
from accelsim.training.compute import achieved_fraction, parameters, training_hardware, training_macs
from accelsim.training.interconnect import Interconnect
from accelsim.training.strategies import STRATEGIES, Setup, iteration_cost
from workloads.layer import Workload

SCHEMA = "accelsim.trainscale/1"


@dataclass(frozen=True)
class ScalePoint:
    workers: int
    strategy: str
    compute_s: float
    comm_s: float
    iteration_s: float
    speedup: float
    efficiency: float
    stale_updates: int

    def as_dict(self) -> dict:
        return {"workers": self.workers, "strategy": self.strategy, "compute_s": self.compute_s,
                "comm_s": self.comm_s, "iteration_s": self.iteration_s, "speedup": self.speedup,
                "efficiency": self.efficiency, "stale_updates": self.stale_updates}


@dataclass(frozen=True)
class ScaleOut:
    setup: Setup                  # its hw has the compute roof lowered to the achieved training rate
    hardware: Hardware            # the worker hardware as given (its peak)
    achieved_fraction: float
    strategies: tuple[str, ...]
    workers: tuple[int, ...]
    points: tuple[ScalePoint, ...]

    def curve(self, strategy: str) -> tuple[ScalePoint, ...]:
        return tuple(p for p in self.points if p.strategy == strategy)

    def point(self, strategy: str, workers: int) -> ScalePoint:
        for p in self.points:
            if p.strategy == strategy and p.workers == workers:
                return p
        raise KeyError((strategy, workers))


def check_strategies(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown or not names:
        raise ConfigError(f"unknown strategy {', '.join(unknown) or '(none given)'}; "
                          f"allowed: {', '.join(STRATEGIES)}")
    return tuple(dict.fromkeys(names))


def scale_out(workload: Workload, hw: Hardware, net: Interconnect, workers: Sequence[int],
              strategies: Sequence[str], *, global_batch: int = 1024, shards: int = 4, staged: bool = True,
              compute_s: float | None = None) -> ScaleOut:
    """Iteration time, speedup and efficiency of every (strategy, worker count)."""
    strategies = check_strategies(strategies)
    counts = tuple(sorted(set(workers)))
    if not counts or counts[0] < 1:
        raise ConfigError(f"worker counts must be positive integers, got {list(workers)}")
    if global_batch < 1 or shards < 1:
        raise ConfigError(f"global batch and shards must be >= 1, got {global_batch} and {shards}")
    if compute_s is not None and not compute_s > 0:
        raise ConfigError(f"compute time must be > 0 seconds, got {compute_s!r}")
    fraction = 1.0 if compute_s is not None else achieved_fraction(hw)
    setup = Setup(workload.with_batch(1), training_hardware(hw) if compute_s is None else hw, net,
                  global_batch, shards, staged, compute_s)
    single = iteration_cost(strategies[0], setup, 1).iteration_s
    points = []
    for name in strategies:
        for p in counts:
            cost = iteration_cost(name, setup, p)
            speedup = single / cost.iteration_s
            points.append(ScalePoint(p, name, cost.compute_s, cost.comm_s, cost.iteration_s, speedup,
                                     speedup / p, cost.stale_updates))
    return ScaleOut(setup, hw, fraction, strategies, counts, tuple(points))


def to_dict(result: ScaleOut) -> dict:
    s = result.setup
    net = s.net
    return {
        "schema": SCHEMA,
        "accelsim_version": __version__,
        "workload": s.workload.name,
        "parameters": parameters(s.workload),
        "gradient_bytes": s.gradient_bytes,
        "training_flops_per_image": 2 * training_macs(s.workload),
        "global_batch": s.global_batch,
        "hardware": hardware_dict(result.hardware),
        "achieved_fraction": result.achieved_fraction,
        "training_flops_per_s": s.hw.peak_flops if s.compute_s is None else None,
        "interconnect": {"name": net.name, "bandwidth_bytes_per_s": net.bandwidth, "latency_s": net.latency_s,
                         "host_link": net.host_link or None, "host_bandwidth_bytes_per_s": net.host_bandwidth,
                         "staged": s.staged and net.host_bandwidth is not None, "source": Path(net.source).name},
        "shards": s.shards,
        "compute_given_s": s.compute_s,
        "points": [p.as_dict() for p in result.points],
    }
