"""The lab's error tree. Every message is one line that says what to fix.

Library exceptions (docker, requests, dnspython) are translated into these at the adapter
edge; the CLI prints ``dnslab: error: <message>`` and exits 2, never a traceback.
"""


class LabError(Exception):
    """Something the user can fix; the message says how."""


class EngineMissing(LabError):
    """No Docker engine answers."""


class ComposeMissing(LabError):
    """`docker compose` (v2) is not available."""


class BaseImageMissing(LabError):
    """debian:bookworm-slim is absent and no registry answers."""


class PortInUse(LabError):
    """A port the lab publishes on 127.0.0.1 is taken by something else."""


class StackNotUp(LabError):
    """A lab service the command needs is not running."""


class BackendError(LabError):
    """The DNS backend (PowerDNS API, ...) refused or failed a request."""


class SecretMissing(LabError):
    """A per-lab secret has not been generated."""


class ExperimentError(LabError):
    """The experiment file is malformed; the message names the file, line and field."""

    def __init__(self, message: str):
        one_line = " ".join(message.split())
        # Whatever a file held, the message prints as one line of visible characters.
        super().__init__("".join(c if c.isprintable() else ascii(c)[1:-1] for c in one_line))
