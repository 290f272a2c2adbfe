"""The package's own error base: a mistake or failure the user can act on.

Library code raises ``ValueError``/``TypeError`` for bad arguments as Python does; failures
that are not a bad argument (a backend job that failed, a checkpoint from another program)
raise a `QrktError` subclass. The ``qrkt`` command line shows either as one line.
"""

__all__ = ["Interrupted", "QrktError"]


class QrktError(Exception):
    """A failure the user can act on, explained in one sentence."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; the message says truthfully what its ``last.pt`` holds."""
