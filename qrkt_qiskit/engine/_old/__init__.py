"""The statevector path before issue 16, kept only until tests/engine/test_old_new_agreement.py has run."""
