"""Writing outputs so a reader never sees one half-written and a failed write loses nothing.

A file is written to a temp file beside it, fsynced and renamed over the old one: on any error
(a full disk, a read-only place, a kill) the previous file stays whole and the temp file is
removed. ``output_dir`` / ``output_file`` check a user-given output path before anything is computed.
An OSError while writing becomes a one-line ConfigError naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from accelsim.errors import ConfigError


def os_error(exc: OSError, path: str | Path, doing: str = "cannot write") -> ConfigError:
    """The one-line error for a failed file-system operation on ``path``."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    return ConfigError(f"{doing}: {reason}", source=str(path))


def _first_file_above(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Create (if need be) the output directory ``path``; ConfigError if it cannot be one."""
    p = Path(path)
    if not str(path).strip():
        raise ConfigError(f"{flag}: empty path; give a directory")
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {path}: is a file, expected a directory")
    above = _first_file_above(p)
    if above is not None:
        raise ConfigError(f"{flag} {path}: cannot be a directory because {above} is a file")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, path, f"{flag}: cannot create the directory") from None
    return p


def writable_place(path: str | Path, flag: str) -> None:
    """Create and remove a temp file where ``path`` (a directory checked by :func:`output_dir`, or a file
    checked by :func:`output_file`) will be written: a place that exists but cannot be written (read-only,
    /proc, no permission) is refused before anything is computed. For commands that print their result
    before writing files (whose writes would otherwise fail after a complete answer was printed)."""
    p = Path(path)
    directory = p if p.is_dir() else p.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".accelsim-probe.", dir=directory)
    except OSError as exc:
        raise os_error(exc, path, f"{flag}: cannot write there") from None
    os.close(fd)
    os.unlink(tmp)


def output_file(path: str | Path, flag: str) -> Path:
    """Check that ``path`` can become a file (its directory is created); ConfigError if not."""
    p = Path(path)
    if not str(path).strip():
        raise ConfigError(f"{flag}: empty path; give a file name")
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise ConfigError(f"{flag} {path}: is a directory, expected a file name")
    above = p.parent if p.parent.exists() and not p.parent.is_dir() else _first_file_above(p)
    if above is not None:
        raise ConfigError(f"{flag} {path}: cannot be written because {above} is a file, not a directory")
    if str(p.parent) not in ("", "."):
        output_dir(p.parent, flag)
    return p


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, else what a plain open() would give (0666 minus the umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_writer(path: Path, newline: str | None = None, binary: bool = False) -> Iterator[IO[Any]]:
    """Yield a handle; on success the file appears at ``path`` whole, on error not at all (and the
    file it replaces is untouched). OSErrors become a one-line ConfigError naming ``path``."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline=newline)) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise os_error(exc, path) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_all(files: dict[Path, str]) -> list[Path]:
    """Write several text files as one set: every temp file is written and fsynced first, then all
    are renamed into place. A failure while writing (a full disk) replaces none of the old files."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path = Path(path)
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            except OSError as exc:
                raise os_error(exc, path) from None
            staged.append((tmp, path))
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, _mode_for(path))
            except OSError as exc:
                raise os_error(exc, path) from None
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise os_error(exc, path) from None
        done = [path for _, path in staged]
        staged = []
        return done
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
