"""What the command-line tests share: one trained rk1 run (the session's `rk1_run`, trained once), copied for each test."""

import pytest


@pytest.fixture
def run_dir(rk1_run_copy):
    return rk1_run_copy
