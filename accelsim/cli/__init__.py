"""The ``accelsim`` command line. Every ``accelsim/cli/cmd_*.py`` module exports ``COMMAND``.

Library code raises :class:`ConfigError`; only :func:`main` turns it into a one-line message and
exit status 2. Command modules import heavy dependencies inside ``run`` so start-up stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
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


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message} (see --help)")


def commands() -> list[Command]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append(module.COMMAND)
    return sorted(found, key=lambda c: c.name)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelsim", description="Simulate Eyeriss-style dataflow accelerators.")
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in commands():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(args._run(args) or 0)
    except ConfigError as exc:
        print(f"accelsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accelsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
