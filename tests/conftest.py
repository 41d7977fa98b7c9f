"""Shared test setup: deterministic hypothesis, repository paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("accelsim", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("accelsim")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def binomial_lockstep(monkeypatch):
    """The slow sparse model with the batch scorer's lockstep imbalance: several units' cycles under uniform
    skipping take the binomial (``sparse.model.imbalance``), the batch's closed form per (run, units), in
    place of the expected maximum over random masks (``sparse.model.lockstep_expected``, which the batch
    does not compute: its searches re-score their shortlists on the slow model). The parity tests of the
    batch scorers compare everything else bit for bit under it."""
    from accelsim.sparse import model

    monkeypatch.setattr(model, "lockstep_expected", lambda *args: None)
