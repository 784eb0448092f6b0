"""Run one role of the cascade as a process, events as JSON lines on stdout (for trying and
measuring it outside the lab; the lab's worker containers call the entry points directly).

    python -m lab.cascade service --port 7100 --max-seconds 60
    python -m lab.cascade fleet --port 7100 --address 127.0.0.1 --outage 30 75 --max-seconds 240

``--params`` takes CascadeParams fields as JSON. The fleet's endpoint answers ``--address``
except during ``--outage START END`` (seconds after it started): no address. SIGHUP
restarts the fleet manager (the operator's lever); SIGTERM stops either role.
"""

import argparse
import json
import signal
import sys
import threading
import time

from lab.core.cascade import CascadeParams


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.cascade")
    ap.add_argument("role", choices=("service", "fleet"))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1", help="service: address to listen on")
    ap.add_argument("--address", default="127.0.0.1", help="fleet: the endpoint's address")
    ap.add_argument("--outage", type=float, nargs=2, metavar=("START", "END"))
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--params", default="{}", help="CascadeParams fields as JSON")
    args = ap.parse_args(argv)
    params = CascadeParams(**json.loads(args.params))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def emit(kind, **data):
        print(json.dumps({"t": round(time.time(), 3), "kind": kind, **data}), flush=True)

    if args.role == "service":
        from lab.cascade.service import run_lease_service
        result = run_lease_service(params, host=args.host, port=args.port, emit=emit,
                                   max_seconds=args.max_seconds, stop_event=stop)
    else:
        from lab.cascade.fleet import run_fleet_manager
        restart = threading.Event()
        signal.signal(signal.SIGHUP, lambda *_: restart.set())
        t0 = time.monotonic()

        def resolve():
            t = time.monotonic() - t0
            if args.outage and args.outage[0] <= t < args.outage[1]:
                return []
            return [args.address]
        result = run_fleet_manager(params, resolve=resolve, port=args.port, emit=emit,
                                   seed=args.seed, max_seconds=args.max_seconds,
                                   restart_event=restart, stop_event=stop)
    print(json.dumps({"kind": "result", "role": args.role, **result}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
