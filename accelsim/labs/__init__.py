"""Graded labs for teaching (notebooks/labs/): each lab's questions and an autograder.

``check(lab, answers)`` grades a dict or a YAML file of answers against values computed from the
simulator at grading time (accelsim.labs.grading); ``accelsim lab check LAB ANSWERS.yaml`` is the same
from the command line. One module per lab holds its questions (``LAB``); this registry lists them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from accelsim.labs.grading import Lab, Report, grade, parse_answers

MODULES = {"roofline": "roofline_lab", "dataflows": "dataflows_lab", "design": "design_lab",
           "eyexam": "eyexam_lab"}


def names() -> list[str]:
    return list(MODULES)


def get(name: str) -> Lab:
    if name not in MODULES:
        raise ConfigError(f"unknown lab {name!r}; allowed: {', '.join(MODULES)}")
    return importlib.import_module(f"accelsim.labs.{MODULES[name]}").LAB


def check(lab: str, answers: dict | str | Path, *, base: str | Path | None = None) -> Report:
    """Grade ``answers`` (a dict, or the path of a YAML file) for ``lab``. File answers are paths
    relative to the answers file (or to ``base``, default the current folder, for a dict)."""
    spec = get(lab)
    data: Any
    if isinstance(answers, (str, Path)):
        from accelsim.yamlio import load_yaml

        path = Path(answers)
        if not path.is_file():
            raise ConfigError("no such answers file", source=str(path))
        data, source, folder = load_yaml(path), str(path), path.resolve().parent
    else:
        data, source, folder = answers, "answers", Path(base or ".").resolve()
    return grade(spec, parse_answers(spec, data, source, folder))


__all__ = ["Lab", "Report", "check", "get", "names"]
