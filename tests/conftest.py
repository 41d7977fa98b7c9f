"""Shared test setup: deterministic hypothesis, repository paths."""

from __future__ import annotations

from pathlib import Path

from hypothesis import settings

settings.register_profile("accelsim", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("accelsim")

REPO = Path(__file__).resolve().parent.parent
