"""The labs' autograder (accelsim.labs, ``accelsim lab check``): it accepts each lab's shipped solution,
rejects a wrong answer naming the question and why, and stops on bad answers files with one line, exit 2.

The solutions (notebooks/labs/solutions/*.yaml) are written by the solution notebooks, which work the
answers out their own way (by hand where short); the grader computes them from the library at grading time.
"""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from accelsim import labs
from accelsim.cli import main
from accelsim.errors import ConfigError
from tests.conftest import REPO

SOLUTIONS = REPO / "notebooks" / "labs" / "solutions"
LABS = labs.names()


def solution_file(name: str):
    return SOLUTIONS / labs.get(name).notebook.replace(".ipynb", ".yaml")


def solution(name: str) -> dict:
    return yaml.safe_load(solution_file(name).read_text())


def wrong_value(q, right):
    """A plausible wrong answer of the question's kind."""
    if q.kind == "choice":
        return next(c for c in q.choices if c != right)
    if q.kind == "integer":
        return right + 1
    return right * 1.5


def test_four_labs_with_statement_solution_time_and_prerequisites():
    assert LABS == ["roofline", "dataflows", "design", "eyexam"]
    for name in LABS:
        lab = labs.get(name)
        assert (REPO / "notebooks" / "labs" / lab.notebook).is_file()
        assert (SOLUTIONS / lab.notebook.replace(".ipynb", "_solution.ipynb")).is_file()
        assert lab.minutes > 0 and lab.prerequisites and len(lab.questions) >= 8
        assert [q.id for q in lab.questions] == [f"q{i}" for i in range(1, len(lab.questions) + 1)]


@pytest.mark.parametrize("name", LABS)
def test_shipped_solution_is_accepted(name, capsys):
    report = labs.check(name, solution_file(name))
    assert report.passed, str(report)
    assert main(["lab", "check", name, str(solution_file(name))]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(f"lab {name}: {len(report.verdicts)} of {len(report.verdicts)} correct")


@pytest.mark.parametrize("name", LABS)
def test_a_wrong_answer_is_named_with_why(name, capsys, tmp_path):
    lab = labs.get(name)
    answers = solution(name)
    for q in lab.questions:
        if q.kind == "file":
            continue
        bad = dict(answers, **{q.id: wrong_value(q, answers[q.id])})
        report = labs.check(name, bad, base=SOLUTIONS)
        assert report.wrong() == [q.id], (q.id, str(report))
        line = next(v.message for v in report.verdicts if v.id == q.id)
        assert q.why in line
        if q.kind == "number":
            assert "50% too high" in line, line
        elif q.kind == "integer":
            assert "too high" in line, line
        else:
            assert repr(bad[q.id]) in line, line
    # and from the command line: exit 1, the question named on its own line
    q = lab.questions[0]
    bad = dict(answers, **{q.id: wrong_value(q, answers[q.id])})
    bad.update({f.id: str(SOLUTIONS / answers[f.id]) for f in lab.questions if f.kind == "file"})
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["lab", "check", name, str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{q.id}: WRONG: " in out and "Why: " in out


def test_a_design_over_budget_or_with_the_wrong_pe_count_is_rejected(tmp_path):
    from accelsim.arch import load_arch
    from accelsim.labs.design_lab import BUDGET_AU, area

    answers = solution("design")
    arch_text = (SOLUTIONS / answers["q4"]).read_text()
    assert area(load_arch(SOLUTIONS / answers["q4"])) <= BUDGET_AU
    big = tmp_path / "big.yaml"
    big.write_text(arch_text.replace("size_kb: 159", "size_kb: 200").replace("size_kb: 147}", "size_kb: 188}"))
    wide = tmp_path / "wide.yaml"
    wide.write_text(arch_text.replace("{rows: 12, cols: 14}", "{rows: 12, cols: 16}"))
    (tmp_path / "lab3_conv3_mapping.yaml").write_text((SOLUTIONS.parent / "lab3_conv3_mapping.yaml").read_text())
    for design, why in (("big.yaml", "over the 165,000 au budget"), ("wide.yaml", "192 PEs, the lab asks for 168")):
        report = labs.check("design", dict(answers, q4=design), base=tmp_path)
        assert "q4" in report.wrong()
        assert why in next(v.message for v in report.verdicts if v.id == "q4")


@pytest.mark.parametrize("change, expected", [
    (lambda a: a.pop("q3"), "no answer to q3"),
    (lambda a: a.update(q1="ten"), "q1: must be a number, got 'ten'"),
    (lambda a: a.update(q9=16.5), "q9: must be an integer, got 16.5"),
    (lambda a: a.update(q7="fast"), "q7: must be one of compute, memory, got 'fast'"),
    (lambda a: a.update(q12=1), "unknown question 'q12'"),
])
def test_bad_answers_file_is_one_line_exit_2(tmp_path, capsys, change, expected):
    answers = solution("roofline")
    change(answers)
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump(answers))
    with pytest.raises(ConfigError, match=expected):
        labs.check("roofline", path)
    assert main(["lab", "check", "roofline", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and str(path) in err


@pytest.mark.parametrize("argv, expected", [
    (["lab", "check", "compilers", "x.yaml"], "unknown lab 'compilers'; allowed: roofline, dataflows, design, eyexam"),
    (["lab", "check", "roofline", "missing.yaml"], "missing.yaml: no such answers file"),
    (["lab", "check", "roofline"], "give the answers file"),
])
def test_bad_command_is_one_line_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_a_missing_design_file_is_bad_input(tmp_path):
    answers = dict(solution("design"), q4="nowhere.yaml")
    with pytest.raises(ConfigError, match="q4: no such file 'nowhere.yaml'"):
        labs.check("design", answers, base=tmp_path)


def test_template_asks_every_question():
    for name in LABS:
        lab = labs.get(name)
        data = yaml.safe_load(lab.template())
        assert list(data) == [q.id for q in lab.questions] and all(v is None for v in data.values())


def test_solution_files_are_what_the_solution_notebooks_print():
    import nbformat

    spec = importlib.util.spec_from_file_location("notebook_build", REPO / "notebooks" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name in LABS:
        notebook = SOLUTIONS / labs.get(name).notebook.replace(".ipynb", "_solution.ipynb")
        printed = build.answers_text(nbformat.read(notebook, as_version=4))
        assert yaml.safe_load(printed) == solution(name), name
        assert build.answers_file(notebook) == solution_file(name)
