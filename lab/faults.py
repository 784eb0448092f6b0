"""The fault channel on etcd: the runner writes faults under ``/dnslab/faults/``, workers
read them at their named steps. Each fault key hangs on a lease, so if the runner dies
(even SIGKILL) its faults expire by themselves; the runner also deletes them in its
rollback. A fault that fires a limited number of times is spent with a compare-and-swap, so
two workers never both consume the last firing."""

import itertools
import json
import os

from lab.core.faults import Fault, FaultChannel, FaultKind
from lab.core.ports import TransientError
from lab.errors import LabError
from lab.etcd import EtcdGateway, b64, unb64

FAULTS = "/dnslab/faults/"


class EtcdFaults(FaultChannel):
    """``run_id``: the injector's run; its faults live under their own prefix, so its
    rollback clears only them. Without it (recovery, workers), the whole channel."""

    def __init__(self, etcd: EtcdGateway, run_id: str | None = None):
        self.etcd = etcd
        self.prefix = f"{FAULTS}{run_id}/" if run_id else FAULTS
        self._ids = itertools.count(1)

    # -- injector side (the runner) --------------------------------------------------
    def inject(self, fault: Fault, *, lease: str) -> str:
        """Put ``fault`` in the channel, on the run's lease (it dies with the run)."""
        key = f"{self.prefix}{os.getpid()}-{next(self._ids):04d}"
        self.etcd.call("/kv/put", {"key": b64(key), "value": b64(json.dumps(fault.to_json())),
                                   "lease": lease})
        return key

    def remove(self, key: str) -> None:
        self.etcd.call("/kv/deleterange", {"key": b64(key)})

    def clear(self) -> int:
        """Remove this run's faults (rollback), or every fault (recovery)."""
        return self.etcd.delete_prefix(self.prefix)

    def active(self) -> list[Fault]:
        return [Fault.from_json(json.loads(unb64(kv["value"])))
                for kv in self.etcd.range_prefix(FAULTS)]

    # -- worker side -----------------------------------------------------------------
    def take(self, kind: FaultKind, target: str, step: str | None = None,
              endpoint: str | None = None) -> Fault | None:
        """Consume one firing of the first matching fault, or return None."""
        try:
            kvs = self.etcd.range_prefix(FAULTS)
        except TransientError:
            return None  # an unreachable channel injects nothing
        for kv in kvs:
            fault = Fault.from_json(json.loads(unb64(kv["value"])))
            if not fault.fires_for(kind, target, step, endpoint):
                continue
            spent = fault.spent()
            compare = [{"key": kv["key"], "target": "MOD", "result": "EQUAL",
                        "mod_revision": kv["mod_revision"]}]
            if spent.times > 0:
                success = [{"request_put": {"key": kv["key"],
                                            "value": b64(json.dumps(spent.to_json())),
                                            "ignore_lease": True}}]
            else:
                success = [{"request_delete_range": {"key": kv["key"]}}]
            r = self.etcd.call("/kv/txn", {"compare": compare, "success": success})
            if r.get("succeeded"):
                return fault
        return None


RUN_ACTIVE = "/dnslab/runs/active"


class RunInProgress(LabError):
    """Another run holds this lab's run lock."""


class RunLease:
    """The run lock: a key on a short lease the runner keeps alive. Taken before anything is
    set up, so a refused run changes nothing. Every fault of the run hangs on the same lease,
    so if the runner dies (even SIGKILL) its faults vanish within ``ttl_s``, and the next
    `dnslab` command knows the leftovers are abandoned. The keepalive checks etcd's answer
    and that the key is still this run's: ``lost`` says why when it is not (the run aborts)."""

    def __init__(self, etcd: EtcdGateway, run_id: str, *, ttl_s: float = 10.0):
        self.etcd, self.run_id, self.ttl_s = etcd, run_id, ttl_s
        self.id: str | None = None
        self.lost: str | None = None
        self._stop = None

    def start(self) -> "RunLease":
        import threading

        from lab.errors import LabError
        self.id = self.etcd.grant(self.ttl_s)
        key = b64(RUN_ACTIVE)
        r = self.etcd.call("/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "result": "EQUAL",
                         "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": b64(self.run_id),
                                         "lease": self.id}}]})
        if not r.get("succeeded"):
            self.etcd.revoke(self.id)
            self.id = None
            raise RunInProgress(f"another run ({active_run(self.etcd)}) is in progress on this "
                                "lab; nothing was changed: wait for it to finish (or stop it "
                                "and run `dnslab down`)")
        self._stop = threading.Event()
        threading.Thread(target=self._keepalive, daemon=True, name="run-lease").start()
        return self

    def _keepalive(self) -> None:
        import time
        last_ok = time.monotonic()
        while not self._stop.wait(self.ttl_s / 4):
            try:
                r = self.etcd.call("/lease/keepalive", {"ID": self.id})
                ttl = int((r.get("result") or r).get("TTL") or 0)
                holder = active_run(self.etcd)
            except Exception as e:   # unreachable for a moment: lost only past the TTL
                if time.monotonic() - last_ok > self.ttl_s:
                    self.lost = f"the plan store did not answer for {self.ttl_s:g} s ({e})"
                    return
                continue
            if self._stop.is_set():
                return
            if ttl <= 0:
                self.lost = "etcd reports the run's lease expired"
                return
            if holder != self.run_id:
                self.lost = f"the run key now names {holder or 'no run'}"
                return
            last_ok = time.monotonic()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self.id is not None:
            self.etcd.revoke(self.id)   # removes the run key and every fault on the lease
            self.id = None


def active_run(etcd: EtcdGateway) -> str | None:
    kvs = etcd.call("/kv/range", {"key": b64(RUN_ACTIVE)}).get("kvs", [])
    return unb64(kvs[0]["value"]).decode() if kvs else None
