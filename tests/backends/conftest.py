"""What every backend test shares."""

import pytest

from qrkt_qiskit import backends


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch):
    """Tests see the shipped profiles only, whatever the developer's environment holds."""
    monkeypatch.delenv(backends.ENV_PATH, raising=False)
