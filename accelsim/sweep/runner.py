"""Run a sweep: skip what an earlier run finished, evaluate the rest on an engine, append each record
as it arrives, then write results.csv. The parent holds counts, never the records themselves."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.sweep.engines import ENGINES, choose
from accelsim.sweep.points import points
from accelsim.sweep.results import write_results_csv
from accelsim.sweep.spec import SweepSpec
from accelsim.sweep.store import Store

MAX_REASONS = 20        # distinct failure messages counted one by one; the rest are lumped together
OTHER = "(other errors)"


@dataclass(frozen=True)
class Summary:
    name: str
    out_dir: Path
    engine: str
    total: int
    previously_done: int          # points found finished in the directory (--resume)
    ran: int                      # points evaluated by this run
    ok: int                       # all points with a result (earlier runs included)
    failed: int                   # all points that recorded an error (earlier runs included)
    reasons: tuple[tuple[str, int], ...]   # this run's failure messages, most common first
    cut_partial_line: bool
    seconds: float
    results_csv: Path

    def lines(self) -> list[str]:
        out = [f"sweep {self.name}: {self.total} points, {self.ok} ok, {self.failed} failed"
               + (f" ({self.previously_done} finished by an earlier run)" if self.previously_done else "")
               + f"; ran {self.ran} on {self.engine} in {self.seconds:.1f} s"]
        if self.cut_partial_line:
            out.append("a half-written last record from an interrupted run was cut off; its point ran again")
        for message, n in self.reasons:
            out.append(f"  {n} x {message}")
        out.append(f"wrote {self.results_csv}")
        return out


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, jobs: int = 1, dask: str | None = None,
              resume: bool = False, on_start: Callable[[int], None] | None = None,
              on_record: Callable[[dict], None] | None = None) -> Summary:
    """Run (or finish) ``spec`` into ``out_dir``. ``on_start(points_to_run)`` is called once the
    directory is open, ``on_record(record)`` after each record is on disk (the CLI's progress bar).
    Raises ConfigError for bad input."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"-j must be a positive integer, got {jobs!r}", key="-j")
    engine_name = choose(jobs, dask)
    engine = ENGINES[engine_name]
    out = Path(out_dir)
    _check_references(spec)
    start = time.monotonic()
    reasons: Counter[str] = Counter()
    ran = ok = failed = 0
    with Store(out) as store:
        before = store.open(spec, resume)
        if on_start is not None:
            on_start(spec.total - len(before.done))
        for record in engine(points(spec, skip=before.done), jobs, dask):
            record = _json_safe(record)
            store.append(record)
            ran += 1
            if record["status"] == "ok":
                ok += 1
            else:
                failed += 1
                message = record.get("error") or "unknown error"
                if message not in reasons and len(reasons) >= MAX_REASONS:
                    message = OTHER
                reasons[message] += 1
            if on_record is not None:
                on_record(record)
        results = write_results_csv(out)
    return Summary(spec.name, out, engine_name if engine_name != "dask" else f"dask ({dask})", spec.total,
                   len(before.done), ran, before.ok + ok, before.failed + failed,
                   tuple(reasons.most_common()), before.cut_partial_line, time.monotonic() - start, results)


def _check_references(spec: SweepSpec) -> None:
    """Fail fast on names that cannot resolve (a typo in an arch, workload or dataflow): that is a
    bad sweep file, not a bad point. Everything else a point does wrong is recorded, not raised."""
    from accelsim.sweep.worker import arch_document
    from dataflows import registry
    from workloads.loader import load_workload

    def values(key: str) -> list:
        found = [v for k, v in spec.base if k == key]
        group = spec.group_of(key)
        if group is not None:
            i = group.keys.index(key)
            found = [row[i] for row in group.values]
        return list(dict.fromkeys(found))

    from accelsim.mapper.search import SearchSpec
    from accelsim.sweep.spec import SEARCH_KEYS

    for key in SEARCH_KEYS:                  # each search setting alone must make a valid search
        if key == "refine":
            continue
        for value in values(f"search.{key}"):
            extra = {"time_limit_s": 1.0} if key == "budget" and values("search.time_limit_s") else {}
            try:
                SearchSpec(**{**extra, key: value})
            except ConfigError as exc:
                raise ConfigError(f"search.{key}: {exc.detail}", source=spec.source) from None
    try:
        for name in values("arch"):
            doc, source = arch_document(str(name))
            _check_arch_keys(spec, doc, source)
        for name in values("workload"):
            load_workload(str(name))
        for name in values("dataflow"):
            registry.get(str(name))
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: {exc}") from None


def _check_arch_keys(spec: SweepSpec, doc: dict, source: str) -> None:
    """Every arch key path the sweep sets must be a key the arch loader reads: set each alone on the
    base architecture and build it; an unknown key (or a path through a non-mapping) is the sweep
    file's error, raised before anything runs. Errors of a value are a point's, recorded when it runs."""
    import copy

    from accelsim.arch import arch_from_dict
    from accelsim.errors import UnknownKeyError
    from accelsim.sweep.spec import key_kind
    from accelsim.sweep.worker import _set

    settings = list(spec.base) + [(k, row[i]) for g in spec.groups for i, k in enumerate(g.keys) for row in g.values[:1]]
    for key, value in settings:
        if key_kind(key) != "arch":
            continue
        trial = copy.deepcopy(doc)
        _set(trial, key, value, source)
        try:
            arch_from_dict(trial, source)
        except UnknownKeyError as exc:
            if exc.key == key:
                raise ConfigError(f"{key}: {exc.detail} (architecture {source})") from None
        except ConfigError:
            pass
    # the first point's architecture: an error in a section no axis touches repeats at every point
    swept = {k.split(".")[0] for g in spec.groups for k in g.keys if key_kind(k) == "arch"}
    first = copy.deepcopy(doc)
    for key, value in settings:
        if key_kind(key) == "arch":
            _set(first, key, value, source)
    try:
        arch_from_dict(first, source)
    except ConfigError as exc:
        section = (exc.key or "").split(".")[0]
        if section and section not in swept:
            raise ConfigError(f"the architecture of every point is invalid: {exc}") from None


def _json_safe(record: dict) -> dict:
    """Non-finite numbers cannot go into JSON: such a point becomes an error, never a crash."""
    totals = record.get("totals") or {}
    bad = [k for k, v in totals.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        record = {**record, "status": "error", "totals": None,
                  "error": f"non-finite result in {', '.join(bad)}"}
    return record
