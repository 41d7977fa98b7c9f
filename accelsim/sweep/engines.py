"""Where sweep points run: in this process, in a local process pool, or on a Dask cluster.

Every engine has one shape, ``engine(points, jobs, address) -> iterator of records`` yielding
each point's record as it completes (in completion order). At most ``WINDOW x workers`` points
are in flight, so neither the pending points nor the finished records pile up in the parent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from accelsim.errors import ConfigError
from accelsim.sweep.points import Point
from accelsim.sweep.worker import evaluate_point, one_line

WINDOW = 2          # points in flight per worker
DASK_HINT = "pip install accelsim[dask]"


def _failed(p: Point, exc: BaseException) -> dict:
    """The record of a point whose worker died (the point's own errors never reach here)."""
    from accelsim.sweep.points import label

    return {"point": p.index, "key": p.key, "status": "error", "axes": {k: label(v) for k, v in p.axes},
            "totals": None, "error": f"worker failed: {one_line(exc)}", "elapsed_s": None}


def run_serial(points: Iterable[Point], jobs: int = 1, address: str | None = None) -> Iterator[dict]:
    """In this process, one point after another (``-j 1``)."""
    for p in points:
        yield evaluate_point(p)


PARENT_POLL_S = 0.2     # how often a pool worker checks that its parent is alive


def _watch_parent(parent: int) -> None:
    """In a pool worker: exit as soon as the parent process is gone (a kill -9 of the parent runs no
    clean-up, so the workers end themselves). Linux: the kernel sends SIGKILL at the parent's death
    (PR_SET_PDEATHSIG); everywhere: a daemon thread polls the parent id. Ctrl-C is the parent's to
    handle (it stops the workers), so workers ignore SIGINT."""
    import os
    import signal
    import sys
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def poll() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(PARENT_POLL_S)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=poll, name="accelsim-parent-watch", daemon=True).start()


def _stop_workers(pool) -> None:
    """Kill a pool's worker processes now (the parent is being interrupted or failed)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        try:
            proc.kill()
        except (OSError, ValueError):
            pass
    for proc in procs:
        try:
            proc.join(timeout=5)
        except (OSError, ValueError, AssertionError):
            pass


def run_pool(points: Iterable[Point], jobs: int, address: str | None = None) -> Iterator[dict]:
    """A local process pool of ``jobs`` workers (spawned: no state inherited from the parent). The
    workers end with the parent: stopped here if the parent is interrupted (Ctrl-C, SIGTERM) or its
    consumer fails, and on their own if the parent is killed (``_watch_parent``)."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    it = iter(points)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_watch_parent, initargs=(os.getpid(),))
    finished_all = False
    try:
        running: dict = {}

        def fill() -> None:
            while len(running) < WINDOW * jobs:
                p = next(it, None)
                if p is None:
                    return
                running[pool.submit(evaluate_point, p)] = p

        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: running[f].index):
                p = running.pop(fut)
                try:
                    record = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker process (BrokenProcessPool)
                    record = _failed(p, exc)
                yield record
            fill()
        finished_all = True
    finally:
        if not finished_all:
            _stop_workers(pool)
        # wait even when interrupted: the workers are dead by now, so the pool's manager thread ends at
        # once; not joining it left that thread closing its wake-up pipe while interpreter exit wrote to
        # it ("Exception ignored ... OSError: Bad file descriptor" after "accelsim: terminated", seen
        # once under load in test_faults)
        pool.shutdown(wait=True, cancel_futures=not finished_all)


def dask_client(address: str | None, jobs: int):
    """A connected ``distributed.Client`` (and the LocalCluster it owns, or None)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(f"--dask needs the optional dependency dask.distributed: {DASK_HINT}") from None
    if address in (None, "", "local"):
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(address, timeout="10s"), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot connect to the Dask scheduler ({one_line(exc)}); give a scheduler address "
                          f"like tcp://host:8786, or `local`", key="--dask") from None


def run_dask(points: Iterable[Point], jobs: int, address: str | None = "local") -> Iterator[dict]:
    """A dask.distributed scheduler: ``address`` of a running one, or ``local`` for a LocalCluster."""
    from distributed import as_completed

    client, cluster = dask_client(address, jobs)
    try:
        workers = max(1, sum(client.nthreads().values())) if cluster is None else jobs
        it = iter(points)
        pending: dict = {}
        done = as_completed()

        def submit_one() -> bool:
            p = next(it, None)
            if p is None:
                return False
            fut = client.submit(evaluate_point, p, pure=False)
            pending[fut.key] = p
            done.add(fut)
            return True

        for _ in range(WINDOW * workers):
            if not submit_one():
                break
        for fut in done:
            p = pending.pop(fut.key)
            try:
                record = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: record it, go on
                record = _failed(p, exc)
            fut.release()
            yield record
            submit_one()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


ENGINES: dict[str, Callable[..., Iterator[dict]]] = {"serial": run_serial, "pool": run_pool, "dask": run_dask}


def choose(jobs: int, dask: str | None) -> str:
    """The engine for the CLI's options: --dask wins; -j 1 runs in process; else the pool."""
    if dask is not None:
        return "dask"
    return "serial" if jobs == 1 else "pool"
