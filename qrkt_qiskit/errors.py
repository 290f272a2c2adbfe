"""The package's own error base: a mistake or failure the user can act on.

Library code raises ``ValueError``/``TypeError`` for bad arguments as Python does; failures
that are not a bad argument (a backend job that failed, a checkpoint from another program)
raise a `QrktError` subclass. The ``qrkt`` command line shows either as one line.
"""

import errno

__all__ = ["Interrupted", "QrktError", "os_error_sentence"]


class QrktError(Exception):
    """A failure the user can act on, explained in one sentence."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; the message says truthfully what its ``last.pt`` holds."""


# What to do about the file-system errors a user can meet, by errno.
_REMEDIES = {
    errno.ENOSPC: "no space left on its device; free some space",
    errno.EDQUOT: "your disk quota is used up; free some space",
    errno.EROFS: "its file system is read-only; copy the run to a writable place",
    errno.EACCES: "permission denied; fix the permissions",
    errno.EPERM: "operation not permitted; fix the permissions",
}


def os_error_sentence(exc: OSError, then: str = "run the command again") -> str:
    """``exc`` (full disk, read-only, permission, ...) as one sentence naming the file, the cause and what to do.

    ``then`` is what to do once the cause is fixed. An error raised with a message of its own
    (no ``strerror``) is that message.
    """
    if exc.strerror is None:
        return str(exc)
    where = f"{exc.filename}: " if exc.filename is not None else ""
    remedy = _REMEDIES.get(exc.errno)
    return f"{where}{exc.strerror}" if remedy is None else f"{where}{remedy}, then {then}"
