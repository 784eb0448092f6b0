"""Per-lab secrets: generated on first start into the lab's secrets volumes, never in the repo.

Everything is made once in keygen's own directory (``<root>/keygen``: the ``secrets``
volume, which no other container mounts): API keys and passwords, and for etcd a CA, a
server certificate per store and a client certificate per etcd user (``openssl``). Then
each consumer's directory (``<root>/<consumer>``: its own volume ``secrets-<consumer>``,
mounted at /run/secrets in that container alone) gets exactly the files
``config.SECRETS`` lists for it, mode 0400, owned by the user that reads them.
"""

import io
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from lab import config
from lab.errors import LabError, SecretMissing

MASTER = "keygen"
CERT_DAYS = 825
# Grafana's official image runs as this uid; only it needs to read its admin password.
GRAFANA_UID = config.SECRETS_OWNER["grafana"]


def store_addresses() -> dict[str, str]:
    """Each etcd's address on the lab network, as compose gives it (LAB_*_ADDRESS), else
    from DNSLAB_NET_PREFIX and the store's fixed host part."""
    prefix = os.environ.get("DNSLAB_NET_PREFIX") or "172.30.53"
    return {store: os.environ.get(f"LAB_{store.upper().replace('-', '_')}_ADDRESS")
            or f"{prefix}.{host}" for store, host in config.ETCD_STORES.items()}


def generate(directory: Path, addresses: dict[str, str] | None = None) -> list[str]:
    """Create each missing secret in ``directory``'s keygen part and lay out every
    consumer's part; return the names created (existing secrets are kept, so restarting
    the lab keeps its keys)."""
    addresses = addresses or store_addresses()
    master = directory / MASTER
    _private_dir(master, 0)
    created = [name for name in ("pdns-api-key", "recursor-api-key", "grafana-admin-password")
               if _token(master / name)]
    created += _etcd(master / "etcd", addresses)
    for consumer, files in config.SECRETS.items():
        _lay_out(master, directory / consumer, files, config.SECRETS_OWNER.get(consumer, 0))
    return created


# -- the keygen part ------------------------------------------------------------------------
def _private_dir(path: Path, owner: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if os.geteuid() == 0:
        os.chown(path, owner, owner)


def _token(path: Path) -> bool:
    if path.exists() and path.stat().st_size > 0:
        return False
    _write(path, secrets.token_urlsafe(32).encode())
    return True


def _write(path: Path, data: bytes, owner: int = 0) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o400)
    if os.geteuid() == 0:
        os.chown(tmp, owner, owner)
    os.replace(tmp, path)


def _openssl(*args: str, cwd: Path) -> None:
    try:
        proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError:
        raise LabError("keygen: the openssl command is missing (Debian package openssl)") from None
    if proc.returncode != 0:
        raise LabError(f"keygen: openssl {args[0]} failed: {proc.stderr.strip()[-300:]}")


def _etcd(etcd: Path, addresses: dict[str, str]) -> list[str]:
    """The CA, each store's server certificate and root, and each user's client
    certificate and password. A new CA re-issues everything it signs."""
    _private_dir(etcd, 0)
    created = []
    if not (etcd / "ca.crt").exists() or not (etcd / "ca.key").exists():
        for old in etcd.glob("*/*"):
            old.unlink()
        _ca(etcd)
        created.append("etcd/ca.crt")
    for store in config.ETCD_STORES:
        _private_dir(etcd / store, 0)
        users = {"root": ("", ""), **config.ETCD_USERS[store]}
        lines = "".join(f"{u} {perm} {prefix}\n" for u, (perm, prefix) in users.items() if perm)
        if not (etcd / store / "users").exists():
            _write(etcd / store / "users", lines.encode())
        if not (etcd / store / "server.crt").exists():
            # The CN is not a user name: etcd's JSON gateway dials etcd with the server's own
            # certificate, and etcd takes a client certificate's CN as the user when a request
            # carries no token. A CN naming a user would let anonymous requests act as it.
            _issue(etcd, store, "server", f"CN = etcd server {store}",
                   ["DNS:" + store, "DNS:localhost", "IP:" + addresses[store], "IP:127.0.0.1"])
            created.append(f"etcd/{store}/server.crt")
        for user in users:
            if not (etcd / store / f"{user}.crt").exists():
                _issue(etcd, store, user, _client_subject(store, user), None)
                created.append(f"etcd/{store}/{user}.crt")
            if _token(etcd / store / f"{user}.password"):
                created.append(f"etcd/{store}/{user}.password")
    return created


def _client_subject(store: str, user: str) -> str:
    """A gRPC client's certificate names its user in the CN (etcd takes it as the user when
    a request has no token: root for the server's own etcdctl, coredns). The JSON gateway
    refuses a client certificate with any CN ("CommonName of client sending a request
    against gateway will be ignored"), so the lab's gateway users get none: the password is
    what says who they are."""
    if user == config.ETCD_CLIENT_USER[store]:
        return f"O = dnslab\nOU = {user}"
    return f"CN = {user}"


def _ca(etcd: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cnf = Path(tmp) / "ca.cnf"
        cnf.write_text("[req]\ndistinguished_name = dn\nprompt = no\n"
                       f"[dn]\nCN = dnslab etcd CA {secrets.token_hex(4)}\n"
                       "[ca]\nbasicConstraints = critical,CA:TRUE\n"
                       "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n")
        _openssl("req", "-x509", "-new", "-config", str(cnf), "-extensions", "ca",
                 "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", "ca.key", "-out", "ca.crt", "-days", str(CERT_DAYS + 1),
                 "-sha256", cwd=etcd)
    for name in ("ca.key", "ca.crt"):
        os.chmod(etcd / name, 0o400)


def _issue(etcd: Path, store: str, name: str, subject: str, sans: list[str] | None) -> None:
    """``<store>/<name>.key`` and ``.crt`` signed by the CA: a server certificate (with
    ``sans``; client use too, for the gateway's own connection) or a client certificate."""
    usage = "serverAuth,clientAuth" if sans else "clientAuth"
    with tempfile.TemporaryDirectory() as tmp:
        cnf = Path(tmp) / "leaf.cnf"
        cnf.write_text("[req]\ndistinguished_name = dn\nprompt = no\n"
                       f"[dn]\n{subject}\n"
                       "[leaf]\nbasicConstraints = critical,CA:FALSE\n"
                       "keyUsage = critical,digitalSignature,keyEncipherment\n"
                       f"extendedKeyUsage = {usage}\nauthorityKeyIdentifier = keyid\n"
                       + (f"subjectAltName = {','.join(sans)}\n" if sans else ""))
        csr = str(Path(tmp) / "leaf.csr")
        key, crt = f"{store}/{name}.key", f"{store}/{name}.crt"
        _openssl("req", "-new", "-config", str(cnf), "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                 "-out", csr, cwd=etcd)
        _openssl("x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(CERT_DAYS),
                 "-sha256", "-extfile", str(cnf), "-extensions", "leaf", "-out", crt, cwd=etcd)
    for path in (key, crt):
        os.chmod(etcd / path, 0o400)


# -- each consumer's part -------------------------------------------------------------------
def _lay_out(master: Path, out: Path, files: tuple[str, ...], owner: int) -> None:
    """``out`` holds exactly ``files`` (copies of the keygen part's), 0400, owned by
    ``owner``; anything else found there is removed."""
    _private_dir(out, owner)
    wanted = set(files)
    for path in sorted(out.rglob("*"), reverse=True):
        rel = path.relative_to(out).as_posix()
        if path.is_dir():
            if not any(f.startswith(rel + "/") for f in wanted):
                shutil.rmtree(path)
        elif rel not in wanted:
            path.unlink()
    for rel in files:
        source, target = master / rel, out / rel
        for parent in reversed(Path(rel).parents[:-1]):
            _private_dir(out / parent, owner)
        data = source.read_bytes()
        if not target.exists() or target.read_bytes() != data or (
                os.geteuid() == 0 and target.stat().st_uid != owner):
            _write(target, data, owner)


# -- the runner's copy on a host ------------------------------------------------------------
_fetched: dict[str, tuple[str, Path]] = {}


def client_secrets() -> Path:
    """Where this process finds the etcd credentials of a lab client: $DNSLAB_SECRETS_DIR,
    else /run/secrets in a lab container, else (on a host) a private copy of the runner's
    secrets fetched through Docker from the keygen container."""
    if explicit := os.environ.get("DNSLAB_SECRETS_DIR"):
        return Path(explicit)
    here = Path(config.SECRETS_DIR)
    if (here / "etcd" / "ca.crt").exists():
        return here
    return fetch("runner")


def fetch(consumer: str) -> Path:
    """A private copy (0700 temporary directory, removed at exit) of ``consumer``'s secrets,
    read through Docker from the lab's keygen container; fetched again when the lab was
    recreated (a new keygen container)."""
    import atexit

    from lab.runtime import guard
    from lab.stack import engine

    client = engine()
    found = client.containers.list(all=True, filters={"label": [
        f"{config.PROJECT_LABEL}={config.PROJECT}", f"{config.SERVICE_LABEL}=keygen"]})
    if not found:
        raise SecretMissing("the lab's etcd credentials are made by its keygen service, which "
                            "has not run; start the lab with `dnslab up`")
    keygen = guard(found[0])
    cached = _fetched.get(consumer)
    if cached and cached[0] == keygen.attrs["Id"] and cached[1].exists():
        return cached[1]
    try:
        chunks, _ = keygen.get_archive(f"{config.SECRETS_DIR}/{consumer}")
        data = b"".join(chunks)
    except Exception as e:
        raise SecretMissing(f"cannot read the lab's {consumer} secrets from {keygen.name} "
                            f"({str(e)[:120]}); recreate the lab with `dnslab down && "
                            "dnslab up`") from None
    target = Path(tempfile.mkdtemp(prefix=f"dnslab-{consumer}-"))
    atexit.register(shutil.rmtree, target, True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts[1:]      # below the archive's top directory
            if not parts or ".." in parts or not (member.isfile() or member.isdir()):
                continue
            path = target.joinpath(*parts)
            if member.isdir():
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
                continue
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(tar.extractfile(member).read())
    if old := _fetched.get(consumer):
        shutil.rmtree(old[1], ignore_errors=True)
    _fetched[consumer] = (keygen.attrs["Id"], target)  # by id: a recreated lab keeps the name
    return target
