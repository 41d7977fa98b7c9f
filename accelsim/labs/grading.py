"""Grading a lab's answers against the simulator.

A lab is a list of questions. Each question names the kind of answer it takes (a number, an integer,
one of a few choices, or a file) and a function that computes the right answer from the library at
grading time: nothing is a stored constant, so the grader follows the simulator when the core changes.

Invariants: bad answers *input* (unknown lab, a question missing or unknown, a value of the wrong type,
a choice that is not offered, a file that does not exist) raises ConfigError, one line naming the file
and the question; a wrong *answer* is a result, never an exception: :class:`Report` lists each question
with whether it is right and, when not, why (too high or too low and by how much, or which choice, plus
what the answer rests on). The expected value itself is not shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError

KINDS = ("number", "integer", "choice", "file")


@dataclass(frozen=True)
class Answers:
    """A student's answers, checked for shape; files resolved against the answers file's folder."""

    values: dict[str, Any]
    source: str
    base: Path

    def path(self, qid: str) -> Path:
        return (self.base / str(self.values[qid])).resolve()


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: str                                         # one of KINDS
    why: str                                          # what the right answer rests on (shown when wrong)
    answer: Callable[[Answers], Any] | None = None    # the right answer, computed (number/integer/choice)
    validate: Callable[[Path], str | None] | None = None   # file questions: None if acceptable, else why not
    choices: tuple[str, ...] = ()
    rel_tol: float = 0.01                             # numbers: relative tolerance
    unit: str = ""

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert (self.kind == "choice") == bool(self.choices), self.id
        assert (self.kind == "file") == (self.validate is not None) == (self.answer is None), self.id


@dataclass(frozen=True)
class Lab:
    name: str
    title: str
    notebook: str                                      # notebooks/labs/<notebook>
    minutes: int
    prerequisites: str
    questions: tuple[Question, ...]

    def question(self, qid: str) -> Question:
        return next(q for q in self.questions if q.id == qid)

    def template(self) -> str:
        """An answers file to fill in: every question as a commented key."""
        lines = [f"# accelsim lab check {self.name} THIS_FILE.yaml  ({self.title})"]
        for q in self.questions:
            what = {"number": f"a number{f' ({q.unit})' if q.unit else ''}",
                    "integer": f"an integer{f' ({q.unit})' if q.unit else ''}",
                    "choice": "one of: " + ", ".join(q.choices),
                    "file": "a file path, relative to this answers file"}[q.kind]
            lines += [f"# {q.id}: {q.text} -> {what}", f"{q.id}: "]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Verdict:
    id: str
    correct: bool
    message: str


@dataclass(frozen=True)
class Report:
    lab: str
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def correct(self) -> int:
        return sum(v.correct for v in self.verdicts)

    @property
    def passed(self) -> bool:
        return self.correct == len(self.verdicts)

    def wrong(self) -> list[str]:
        return [v.id for v in self.verdicts if not v.correct]

    def lines(self) -> list[str]:
        out = [f"{v.id}: {'ok' if v.correct else 'WRONG: ' + v.message}" for v in self.verdicts]
        out.append(f"lab {self.lab}: {self.correct} of {len(self.verdicts)} correct")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _number(value: Any, integer: bool, source: str, qid: str) -> float | int:
    kind = "an integer" if integer else "a number"
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.replace("_", "").replace(",", ""))
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ConfigError(f"must be {kind}, got {value!r}", source=source, key=qid)
    if integer:
        if number != int(number):
            raise ConfigError(f"must be an integer, got {value!r}", source=source, key=qid)
        return int(number)
    return float(number)


def parse_answers(lab: Lab, data: Any, source: str, base: Path) -> Answers:
    """Check the answers' shape against the lab's questions (ConfigError naming the question if not)."""
    asked = [q.id for q in lab.questions]
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of question -> answer ({', '.join(asked)}), "
                          f"got {type(data).__name__}", source=source)
    unknown = [str(k) for k in data if k not in asked]
    if unknown:
        raise ConfigError(f"unknown question {unknown[0]!r}; lab {lab.name} asks {', '.join(asked)}", source=source)
    missing = [q for q in asked if data.get(q) is None]
    if missing:
        raise ConfigError(f"no answer to {missing[0]} ({lab.question(missing[0]).text}); "
                          f"lab {lab.name} asks {', '.join(asked)}", source=source)
    values: dict[str, Any] = {}
    for q in lab.questions:
        value = data[q.id]
        if q.kind in ("number", "integer"):
            values[q.id] = _number(value, q.kind == "integer", source, q.id)
        elif q.kind == "choice":
            text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
            if text not in q.choices:
                raise ConfigError(f"must be one of {', '.join(q.choices)}, got {value!r}", source=source, key=q.id)
            values[q.id] = text
        else:
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"must be a file path, got {value!r}", source=source, key=q.id)
            if not (base / value).is_file():
                raise ConfigError(f"no such file {value!r} (paths are relative to the answers file)", source=source,
                                  key=q.id)
            values[q.id] = value
    return Answers(values, source, base)


def _judge_number(q: Question, given: float, right: float) -> Verdict:
    if q.kind == "integer":
        if given == right:
            return Verdict(q.id, True, "")
        off = "too high" if given > right else "too low"
        return Verdict(q.id, False, f"{given} is {off} (an exact count). Why: {q.why}")
    scale = abs(right) if right else 1.0
    error = (given - right) / scale
    if abs(error) <= q.rel_tol:
        return Verdict(q.id, True, "")
    off = f"{abs(error):.0%} too {'high' if error > 0 else 'low'}" if abs(error) < 10 else \
        f"off by a factor of {abs(given / right) if right and given else float('inf'):.3g}"
    return Verdict(q.id, False, f"{given:g} is {off} (tolerance {q.rel_tol:.0%}). Why: {q.why}")


def grade(lab: Lab, answers: Answers) -> Report:
    verdicts = []
    for q in lab.questions:
        given = answers.values[q.id]
        if q.kind == "file":
            assert q.validate is not None
            problem = q.validate(answers.path(q.id))
            verdicts.append(Verdict(q.id, problem is None, f"{given}: {problem}. Why: {q.why}" if problem else ""))
            continue
        assert q.answer is not None
        right = q.answer(answers)
        if q.kind == "choice":
            ok = given == right
            verdicts.append(Verdict(q.id, ok, "" if ok else f"{given!r} is not the answer (choices: "
                                    f"{', '.join(q.choices)}). Why: {q.why}"))
        else:
            verdicts.append(_judge_number(q, given, right))
    return Report(lab.name, tuple(verdicts))
