"""Fixtures for every test."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

RUNNER_SIGTERM_HANDLER = signal.getsignal(signal.SIGTERM)  # the test runner's own, before any stage ran


@pytest.fixture(autouse=True)
def sigterm_handler_restored() -> Iterator[None]:
    """A stage run in this process (run_stage) installs its SIGTERM handler; put the runner's back
    after each test, so a SIGTERM sent to the test runner later is not taken for one to a stage."""
    yield
    signal.signal(signal.SIGTERM, RUNNER_SIGTERM_HANDLER)
