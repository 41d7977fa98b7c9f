"""Names, not positions (issue 13 item 9): no code under accelsim/, dataflows/ or noc/ spells the fixed
shape's layout as bare numbers: 8 dims (``range(8)``, ``[1] * 8``, arrays of 8), 3 tensors
(``range(3)``, arrays of 3), 5 levels, or a count column as ``3 + 3*level + tensor``. Sizes come from
the names (``workloads.layer.DIMS``, ``accelsim.energy.TENSORS`` / ``names.ROLES``,
``accelsim.mapping.LEVELS``, the count layouts' ``COL_*`` / ``NestLayout``).

The numba kernels and their batch callers (cost/fast.py, cost/fast_nest.py, mapper/batch.py, nest_space.py,
sparse_batch.py) are checked apart, with the same patterns.
"""

from __future__ import annotations

import re

from tests.conftest import REPO

PATTERNS = {
    "range over 8 dims": r"\brange\(8\)|\brandrange\(8\)|sample\(range\(8\), 8\)",
    "8-long dim vector": r"\[[01]\] \* 8\b|np\.(?:zeros|ones|empty)\(\(?8\b",
    "range over 3 tensors": r"\brange\(3\)|\brandrange\(3\)",
    "3-long tensor vector": r"np\.(?:zeros|ones|empty)\(\(?3\b(?!\s*\*)|\(3, 8\)",
    "5 levels": r"\[\[\]\] \* 5|\[0\] \* 5\b",
    "count column by position": r"\b3 \+ 3 ?\* ?\w",
}
# the numba kernels (cost/fast.py, cost/fast_nest.py) and the batch mapper code that feeds them
KERNELS = ("accelsim/cost/fast.py", "accelsim/cost/fast_nest.py", "accelsim/mapper/batch.py",
           "accelsim/mapper/nest_space.py", "accelsim/mapper/sparse_batch.py")


def _hits() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for root in ("accelsim", "dataflows", "noc"):
        for path in sorted((REPO / root).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                for what, pattern in PATTERNS.items():
                    if re.search(pattern, code):
                        out.setdefault(rel, []).append(f"{rel}:{n}: {what}: {line.strip()}")
    return out


def test_the_patterns_find_what_they_look_for():
    for text in ("for d in range(8):", "f = [1] * 8", "np.zeros((8, n))", "for t in range(3):", "x[3 + 3 * lv + t]",
                 "levels = [[]] * 5", "np.ones(3, np.int64)"):
        assert any(re.search(p, text) for p in PATTERNS.values()), text
    for text in ("for d in range(len(DIMS)):", "ncols = min(3, n)", "(8, 16, 24)", "kb * 1024 * 8 // w"):
        assert not any(re.search(p, text) for p in PATTERNS.values()), text


def test_no_positional_layout_outside_the_numba_kernels():
    found = {f: lines for f, lines in _hits().items() if f not in KERNELS}
    assert found == {}, "\n".join(line for lines in found.values() for line in lines)


def test_the_numba_kernels_take_their_layout_from_the_names():
    found = {f: lines for f, lines in _hits().items() if f in KERNELS}
    assert found == {}, "\n".join(line for lines in found.values() for line in lines)
