"""A small progress bar on stderr with an ETA; silent when stderr is not a TTY or when quiet."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    total: int
    label: str = ""
    enabled: bool = True
    min_seconds: float = 1.0          # only draw once work has taken longer than this
    _start: float = field(default_factory=time.monotonic)
    _done: int = 0
    _drawn: bool = False

    @classmethod
    def for_terminal(cls, total: int, label: str, quiet: bool) -> Progress:
        return cls(total, label, enabled=not quiet and sys.stderr.isatty())

    def advance(self, n: int = 1, note: str = "") -> None:
        self._done += n
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._start
        if elapsed < self.min_seconds and self._done < self.total:
            return
        frac = self._done / self.total if self.total else 1.0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        width = 28
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        sys.stderr.write(f"\r{self.label} [{bar}] {self._done}/{self.total} ETA {eta:5.1f}s {note[:30]:30s}")
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
