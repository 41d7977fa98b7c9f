"""Communication strategies of data- and model-parallel training: one function per strategy.

Notation (reference/training.md): p workers, |W| weights of 4 bytes, S = 4|W| bytes of gradient,
beta = link bandwidth (bytes/s), alpha = message latency, h = host-link bandwidth when messages are
staged through the host (``Interconnect.message_time``). Every strategy returns, for one iteration
of the global batch B (each data-parallel worker takes ceil(B/p) images):

* ``ps`` -- parameter server: every worker pushes S and pulls S through the one server's link, which
  carries p x S per direction; the two directions overlap (full duplex), so
  T_comm = 2 alpha + p S / beta (+ each worker's own staging, 2 S / h). The reference's 32|W|p/beta.
* ``sharded_ps`` -- the same over s server shards, each holding |W|/s: a shard's link carries p S / s,
  a worker's link still carries S: T_comm = 2 s alpha + max(p / s, 1) S / beta (+ 2 S / h).
* ``tree`` -- reduction tree (FireCaffe): gradients summed pairwise up a binary tree, the sum broadcast
  down: 2 ceil(log2 p) sequential messages of S: T_comm = 2 ceil(log2 p) (alpha + S / beta (+ 2 S / h)).
  The reference's 32|W| 2 log2(p) / beta.
* ``ring`` -- ring allreduce (reduce-scatter + all-gather): 2 (p - 1) messages of S / p.
* ``async`` -- asynchronous parameter server: workers push and pull without waiting for each other.
  A worker's cycle is its compute plus one push and one pull (2 alpha + 2 S / beta (+ 2 S / h)); the
  server's link serves one update per S / beta. Time for p updates (= B images) is
  max(worker cycle, p S / beta). Throughput only: each gradient is up to p - 1 updates stale.
* ``model`` -- model parallel: every layer's filters split p ways (1/p of the output channels per
  worker), the whole batch on every worker. Each layer's output is all-gathered forward
  ((p - 1) messages of A_out / p) and its input gradient all-reduced backward (2 (p - 1) messages of
  A_in / p; not for the first layer). No weight gradients cross the network.

With one worker nothing is communicated, whatever the strategy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from accelsim.roofline.hardware import Hardware
from accelsim.training.compute import mac_layers, parameters, split_step_time, step_time
from accelsim.training.interconnect import Interconnect
from workloads.layer import Workload


@dataclass(frozen=True)
class Setup:
    """Everything a strategy needs besides the worker count."""

    workload: Workload            # batch 1
    hw: Hardware                  # compute roof already lowered to the achieved training rate
    net: Interconnect
    global_batch: int
    shards: int = 4
    staged: bool = True
    compute_s: float | None = None    # given single-worker iteration compute time (overrides the roofline)

    @property
    def gradient_bytes(self) -> float:
        return 4.0 * parameters(self.workload)

    def message(self, nbytes: float) -> float:
        return self.net.message_time(nbytes, staged=self.staged)

    def staging(self, nbytes: float) -> float:
        """GPU -> host + host -> GPU copies of one worker's ``nbytes`` (0 without staging)."""
        if not self.staged or self.net.host_bandwidth is None:
            return 0.0
        return 2 * nbytes / self.net.host_bandwidth

    def worker_batch(self, workers: int) -> int:
        return -(-self.global_batch // workers)

    def compute(self, workers: int) -> float:
        """Data parallel: one worker's step over its ceil(B/p) images."""
        batch = self.worker_batch(workers)
        if self.compute_s is not None:
            return self.compute_s * batch / self.global_batch
        return step_time(self.workload, self.hw, batch)

    def split_compute(self, workers: int) -> float:
        """Model parallel: one worker's share of a step over all B images."""
        if self.compute_s is not None:
            return self.compute_s / workers
        return split_step_time(self.workload, self.hw, self.global_batch, workers)


@dataclass(frozen=True)
class Cost:
    compute_s: float
    comm_s: float          # iteration_s - compute_s: what communication adds
    iteration_s: float
    stale_updates: int = 0


def _sync(compute: float, comm: float) -> Cost:
    return Cost(compute, comm, compute + comm)


def parameter_server(s: Setup, p: int) -> Cost:
    S = s.gradient_bytes
    comm = 2 * s.net.latency_s + p * S / s.net.bandwidth + s.staging(S)
    return _sync(s.compute(p), comm)


def sharded_parameter_server(s: Setup, p: int) -> Cost:
    S = s.gradient_bytes
    comm = 2 * s.shards * s.net.latency_s + max(p / s.shards, 1.0) * S / s.net.bandwidth + s.staging(S)
    return _sync(s.compute(p), comm)


def reduction_tree(s: Setup, p: int) -> Cost:
    steps = 2 * math.ceil(math.log2(p))
    return _sync(s.compute(p), steps * s.message(s.gradient_bytes))


def ring_allreduce(s: Setup, p: int) -> Cost:
    return _sync(s.compute(p), 2 * (p - 1) * s.message(s.gradient_bytes / p))


def async_parameter_server(s: Setup, p: int) -> Cost:
    S = s.gradient_bytes
    compute = s.compute(p)
    cycle = compute + 2 * s.net.latency_s + 2 * S / s.net.bandwidth + s.staging(S)
    iteration = max(cycle, p * S / s.net.bandwidth)
    return Cost(compute, iteration - compute, iteration, stale_updates=p - 1)


def model_parallel(s: Setup, p: int) -> Cost:
    eb = s.hw.element_bytes
    B = s.global_batch
    comm = 0.0
    for i, layer in enumerate(mac_layers(s.workload)):
        comm += (p - 1) * s.message(B * layer.output_elems * eb / p)          # all-gather outputs
        if i > 0:
            comm += 2 * (p - 1) * s.message(B * layer.ifmap_elems * eb / p)   # all-reduce input gradients
    return _sync(s.split_compute(p), comm)


@dataclass(frozen=True)
class Strategy:
    name: str
    parallelism: str       # "data" or "model"
    description: str
    cost: Callable[[Setup, int], Cost]


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (
        Strategy("ps", "data", "parameter server (one server)", parameter_server),
        Strategy("sharded_ps", "data", "parameter server sharded over s servers", sharded_parameter_server),
        Strategy("tree", "data", "reduction tree allreduce (FireCaffe)", reduction_tree),
        Strategy("ring", "data", "ring allreduce", ring_allreduce),
        Strategy("async", "data", "asynchronous parameter server (throughput only; stale gradients)",
                 async_parameter_server),
        Strategy("model", "model", "model parallel: filters split across workers", model_parallel),
    )
}


def iteration_cost(strategy: str, setup: Setup, workers: int) -> Cost:
    """One iteration of the global batch on ``workers`` workers; nothing is communicated for one."""
    if workers == 1:
        return _sync(setup.compute(1), 0.0)
    return STRATEGIES[strategy].cost(setup, workers)
