"""Per-lab secrets: generated on first start into the lab's secrets volume, never in the repo."""

import os
import secrets
from pathlib import Path

from lab.config import SECRETS

# Grafana's official image runs as this uid; only it needs to read its admin password.
GRAFANA_UID = 472


def generate(directory: Path) -> list[str]:
    """Create each missing secret file in ``directory``; return the names created.

    Existing secrets are kept, so restarting the lab keeps its API key.
    """
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    for name in SECRETS:
        path = directory / name
        if path.exists() and path.stat().st_size > 0:
            continue
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        if name == "grafana-admin-password" and os.geteuid() == 0:
            os.chown(tmp, GRAFANA_UID, GRAFANA_UID)
        os.replace(tmp, path)
        created.append(name)
    return created
