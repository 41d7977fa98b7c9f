"""A sweep's output directory, append-only: what survives a kill at any moment.

- ``sweep.json``: the sweep (name, fingerprint, axes, point count), written atomically first;
- ``points.jsonl``: one JSON line per finished point, appended with a single ``write`` and fsynced
  as it completes; nothing is ever rewritten, so a kill loses at most the line being written;
- ``.lock``: an exclusive lock while a sweep writes the directory (two sweeps never share one).

On ``--resume`` the store reads ``points.jsonl``: a last line without its newline, or one that is
not valid JSON, is a write cut short by a kill; it is cut off the file (so the next append starts
on a fresh line) and that point runs again. Damage anywhere else is not ours to guess about: it
raises ConfigError naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from accelsim.atomic import os_error, output_dir
from accelsim.errors import ConfigError
from accelsim.report import write_atomic
from accelsim.sweep.points import point
from accelsim.sweep.spec import SweepSpec, jsonable

META = "sweep.json"
POINTS = "points.jsonl"
LOCK = ".lock"
META_SCHEMA = "accelsim.sweep/1"


@dataclass(frozen=True)
class Resumed:
    """What an earlier run of the sweep left in the directory."""

    done: frozenset[int]          # point numbers with a record (ok or error)
    ok: int
    failed: int
    cut_partial_line: bool        # a half-written last line was found and cut off


def meta_document(spec: SweepSpec) -> dict:
    return {
        "schema": META_SCHEMA,
        "name": spec.name,
        "description": spec.description,
        "source": spec.source,
        "fingerprint": spec.fingerprint,
        "points": spec.total,
        "groups": [{"keys": list(g.keys), "values": [[jsonable(v) for v in row] for row in g.values]}
                   for g in spec.groups],
        "base": [[k, jsonable(v)] for k, v in spec.base],
    }


def read_meta(out_dir: Path) -> dict:
    path = out_dir / META
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("not a sweep directory (no sweep.json)", source=str(out_dir)) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable sweep metadata: {exc}", source=str(path)) from None
    if not isinstance(doc, dict) or doc.get("schema") != META_SCHEMA:
        raise ConfigError(f"not an accelsim sweep file (schema {doc.get('schema')!r}, expected {META_SCHEMA})"
                          if isinstance(doc, dict) else "not an accelsim sweep file", source=str(path))
    return doc


def scan(path: Path) -> Iterator[tuple[int, int, dict | None]]:
    """(byte offset, line number, record) for every line; the record is None for a cut-short last
    line (no newline, or not JSON). Raises ConfigError for a damaged line that is not the last."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        offset = 0
        number = 0
        pending: tuple[int, int, str] | None = None
        for raw in fh:
            number += 1
            if pending is not None:   # the bad line was not the last one
                raise ConfigError(f"line {pending[1]} is not a JSON record ({pending[2]}); the file is damaged "
                                  f"somewhere other than its last line", source=str(path))
            complete = raw.endswith(b"\n")
            try:
                record = json.loads(raw) if complete else None
                if record is not None and not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                pending = (offset, number, str(exc).split(":")[0])
                offset += len(raw)
                continue
            yield offset, number, record
            offset += len(raw)
        if pending is not None:
            yield pending[0], pending[1], None


class Store:
    """The output directory of one running sweep. Use as a context manager (holds the lock)."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.points_path = self.out_dir / POINTS
        self._fd: int | None = None
        self._lock_fd: int | None = None

    # ---- opening ----------------------------------------------------------------------------
    def open(self, spec: SweepSpec, resume: bool) -> Resumed:
        output_dir(self.out_dir)
        try:
            return self._open(spec, resume)
        except OSError as exc:
            raise os_error(exc, exc.filename or self.out_dir, "cannot open the sweep directory") from None

    def _open(self, spec: SweepSpec, resume: bool) -> Resumed:
        self._lock()
        recorded = self.points_path.exists() and self.points_path.stat().st_size > 0
        if (self.out_dir / META).exists() and recorded:
            meta = read_meta(self.out_dir)
            if not resume:
                raise ConfigError("already holds a sweep; use --resume to continue it or give another --out",
                                  source=str(self.out_dir))
            if meta.get("fingerprint") != spec.fingerprint:
                raise ConfigError(f"holds a different sweep ({meta.get('name')!r}, fingerprint "
                                  f"{str(meta.get('fingerprint'))[:12]}) than {spec.source} ({spec.fingerprint[:12]}); "
                                  f"the sweep file changed: use another --out", source=str(self.out_dir))
        else:                   # a new directory, or one whose earlier run recorded nothing
            if recorded:
                raise ConfigError("holds points.jsonl but no sweep.json; use another --out", source=str(self.out_dir))
            write_atomic(self.out_dir / META, json.dumps(meta_document(spec), indent=2) + "\n")
        resumed = self._read_existing(spec)
        self._fd = os.open(self.points_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return resumed

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        fd = os.open(self.out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError("another sweep is writing this directory (it is locked)",
                              source=str(self.out_dir)) from None
        self._lock_fd = fd

    def _read_existing(self, spec: SweepSpec) -> Resumed:
        done: set[int] = set()
        ok = failed = 0
        cut = False
        for offset, number, record in scan(self.points_path):
            if record is None:
                with open(self.points_path, "r+b") as fh:   # cut the half-written line off
                    fh.truncate(offset)
                    fh.flush()
                    os.fsync(fh.fileno())
                cut = True
                break
            index = record.get("point")
            where = f"line {number}"
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < spec.total:
                raise ConfigError(f"{where}: point {index!r} is not a point of this sweep (0-{spec.total - 1})",
                                  source=str(self.points_path))
            if record.get("key") != point(spec, index).key:
                raise ConfigError(f"{where}: point {index} has settings {record.get('key')} but this sweep's point "
                                  f"{index} is {point(spec, index).key}", source=str(self.points_path))
            if index in done:
                raise ConfigError(f"{where}: point {index} is recorded twice", source=str(self.points_path))
            done.add(index)
            if record.get("status") == "ok":
                ok += 1
            else:
                failed += 1
        return Resumed(frozenset(done), ok, failed, cut)

    # ---- writing ----------------------------------------------------------------------------
    def append(self, record: dict) -> None:
        """Write one record as one line, in one write, and make it durable before returning."""
        if self._fd is None:
            raise RuntimeError("store is not open")
        line = (json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:      # e.g. a full disk: the records before this one are whole on disk
            raise os_error(exc, self.points_path, "cannot append the record (the sweep can be resumed)") from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)       # releases the flock
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
