"""PowerDNS Authoritative through its HTTP API (one PATCH = one backend transaction)."""

from dataclasses import dataclass

import requests

from lab.config import PDNS_API_PORT, PDNS_SERVER_ID
from lab.errors import BackendError


def absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


@dataclass(frozen=True)
class RRset:
    name: str
    type: str
    ttl: int
    records: tuple[str, ...]

    def as_change(self) -> dict:
        return {
            "name": absolute(self.name),
            "type": self.type,
            "ttl": self.ttl,
            "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in self.records],
        }


class PowerDNS:
    """A small client for the parts of the PowerDNS API the lab uses."""

    def __init__(self, address: str, api_key: str, *, port: int = PDNS_API_PORT,
                 timeout_s: float = 5.0, session: requests.Session | None = None):
        self.base = f"http://{address}:{port}/api/v1/servers/{PDNS_SERVER_ID}"
        self.timeout_s = timeout_s
        self.http = session or requests.Session()
        self.http.headers["X-API-Key"] = api_key

    def _call(self, method: str, path: str, **kw) -> requests.Response:
        url = self.base + path
        try:
            resp = self.http.request(method, url, timeout=self.timeout_s, **kw)
        except requests.RequestException as e:
            raise BackendError(f"PowerDNS API at {url} unreachable ({type(e).__name__}); "
                               "is the pdns-auth service up? (dnslab up)") from None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("error", resp.text)
            except ValueError:
                detail = resp.text
            detail = " ".join(str(detail).split())[:200]
            raise BackendError(f"PowerDNS API {method} {path} answered {resp.status_code}: {detail}")
        return resp

    def zone(self, zone: str) -> dict:
        return self._call("GET", f"/zones/{absolute(zone)}").json()

    def patch(self, zone: str, changes: list[dict]) -> None:
        """Apply raw rrset changes in one transaction."""
        self._call("PATCH", f"/zones/{absolute(zone)}", json={"rrsets": changes})

    def replace(self, zone: str, *rrsets: RRset) -> None:
        """Replace the given RRsets in one transaction."""
        self._call("PATCH", f"/zones/{absolute(zone)}",
                   json={"rrsets": [r.as_change() for r in rrsets]})

    def delete(self, zone: str, name: str, rtype: str) -> None:
        self._call("PATCH", f"/zones/{absolute(zone)}", json={"rrsets": [
            {"name": absolute(name), "type": rtype, "changetype": "DELETE"}]})
