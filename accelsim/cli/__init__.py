"""The ``accelsim`` command line. Every ``accelsim/cli/cmd_*.py`` module exports ``COMMAND``.

Library code raises :class:`ConfigError`; only :func:`main` turns it into a one-line message and
exit status 2. Command modules import heavy dependencies inside ``run`` so start-up stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accelsim import __version__
from accelsim.errors import ConfigError


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


PROG = "accelsim"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line. A value
    that starts with a minus and a digit (``-1``, ``-1,2``, ``-5-1``) is a value, never an option,
    so a list or range flag given a negative item reports the item, not a missing argument."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?[0-9]")

    def error(self, message: str):
        # the top-level parser's prog is "accelsim", which main()'s "accelsim: error: " already says
        where = "" if self.prog == PROG else f"{self.prog}: "
        raise ConfigError(f"{where}{message} (see --help)")


def commands() -> list[Command]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(module.COMMAND)
    return sorted(found, key=lambda c: c.name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Simulate Eyeriss-style dataflow accelerators.")
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in commands():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


class Terminated(BaseException):
    """SIGTERM arrived: unwind (pool workers are stopped on the way out), then exit 143."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised by the fault tests in a subprocess
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit status: 0 done, 2 bad input or an output that cannot be written (one
    line on stderr, never a traceback), 1 a sweep some of whose points failed (their rows say why),
    130 / 143 interrupted (Ctrl-C / SIGTERM)."""
    import signal
    import threading
    import warnings

    parser = build_parser()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            for arg in sys.argv[1:] if argv is None else argv:
                if "\x00" in str(arg):      # no file name or value can hold one (the OS refuses it)
                    shown = str(arg).replace("\x00", "\\0")
                    raise ConfigError(f"argument {shown!r} contains a NUL byte")
            args = parser.parse_args(argv)
            if not getattr(args, "command", None):
                parser.print_help()
                return 2
            return int(args._run(args) or 0)
    except ConfigError as exc:
        print(f"accelsim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:       # a file-system failure the command did not name itself
        print(f"accelsim: error: {exc.filename or 'output'}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("accelsim: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning as one stderr line (no source path, no code line)."""
    print(f"accelsim: warning: {' '.join(str(message).split())}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
