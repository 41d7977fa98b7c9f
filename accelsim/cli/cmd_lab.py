"""accelsim lab: the graded labs (notebooks/labs/). ``check LAB ANSWERS.yaml`` grades answers against
the simulator; ``list`` names the labs; ``template LAB`` prints an answers file to fill in.

Exit status: 0 every answer right, 1 some answer wrong (each named, with why), 2 bad input.
"""

from __future__ import annotations

import argparse

from accelsim.cli import Command


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("check", "list", "template"), help="what to do")
    p.add_argument("lab", nargs="?", help="lab name (accelsim lab list)")
    p.add_argument("answers", nargs="?", help="answers YAML file (check)")


def run(args: argparse.Namespace) -> int:
    from accelsim import labs
    from accelsim.errors import ConfigError

    if args.action == "list":
        for name in labs.names():
            lab = labs.get(name)
            print(f"{name:10s} {lab.minutes:3d} min  {len(lab.questions):2d} questions  notebooks/labs/{lab.notebook}"
                  f"  {lab.title}")
        return 0
    if not args.lab:
        raise ConfigError(f"lab {args.action}: name a lab; allowed: {', '.join(labs.names())}")
    if args.action == "template":
        print(labs.get(args.lab).template(), end="")
        return 0
    if not args.answers:
        raise ConfigError("lab check: give the answers file: accelsim lab check LAB ANSWERS.yaml")
    report = labs.check(args.lab, args.answers)
    print(report)
    return 0 if report.passed else 1


COMMAND = Command("lab", "graded labs: check answers against the simulator, list labs, print a template",
                  configure, run)
