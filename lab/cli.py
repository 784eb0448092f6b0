"""`dnslab` command line. Errors the user can fix print one line and exit 2."""

import argparse
import os
import sys
import urllib.request
from pathlib import Path

from lab import __version__, config
from lab.errors import LabError, SecretMissing


def _stack(args):
    from lab.stack import Stack, stderr_echo
    return Stack(echo=None if getattr(args, "quiet", False) else stderr_echo)


def cmd_up(args) -> int:
    stack = _stack(args)
    services = stack.up(build=not args.no_build,
                        grafana=False if args.no_grafana else None)
    port = config.published_ports()["prometheus"][1]
    print(f"dnslab: up: {', '.join(services)}; Prometheus at http://127.0.0.1:{port}")
    return 0


def cmd_down(args) -> int:
    stack = _stack(args)
    stack.down()
    left = stack.leftovers()
    if any(left.values()):
        raise LabError(f"lab resources remain after down: {left}; remove them with docker rm/"
                       "network rm/volume rm")
    print("dnslab: down: no container, network or volume of the lab is left")
    return 0


def cmd_build(args) -> int:
    _stack(args).build()
    return 0


def cmd_status(args) -> int:
    stack = _stack(args)
    for c in stack.containers():
        health = c.attrs.get("State", {}).get("Health", {}).get("Status", "-")
        print(f"{c.labels.get(config.SERVICE_LABEL, c.name):12} {c.status:10} {health}")
    return 0


def cmd_keygen(args) -> int:
    from lab.keygen import generate
    created = generate(Path(args.directory))
    print(f"keygen: created {', '.join(created) or 'nothing (secrets already present)'}")
    return 0


def cmd_prober(args) -> int:
    from lab.prober import serve
    return serve(resolver=args.resolver, authoritative=args.authoritative, names=args.name,
                 interval_s=args.interval, port=args.port, max_seconds=args.max_seconds,
                 timeout_s=args.timeout)


def _in_network_endpoints():
    """(pdns address, resolver address, api key) inside the lab network, or None on a host."""
    auth = os.environ.get("LAB_AUTH_ADDRESS")
    resolver = os.environ.get("LAB_RESOLVER_ADDRESS")
    key_file = os.environ.get("PDNS_API_KEY_FILE")
    if not (auth and resolver and key_file):
        return None
    try:
        key = Path(key_file).read_text().strip()
    except OSError:
        raise SecretMissing(f"cannot read the PowerDNS API key at {key_file}; the keygen "
                            "service must run first") from None
    return auth, resolver, key


def cmd_smoke(args) -> int:
    from lab import smoke
    from lab.backends.powerdns import PowerDNS

    found = _in_network_endpoints()
    if found is None:
        stack = _stack(args)
        found = stack.address("pdns-auth"), stack.address("recursor"), stack.secret("pdns-api-key")
    auth, resolver, key = found
    result = smoke.run(PowerDNS(auth, key), resolver, config.ZONE, timeout_s=args.timeout)
    print(f"smoke: {result.name} A {result.address} written through the PowerDNS API resolved "
          f"through the resolver after {result.seconds_to_resolve * 1000:.0f} ms")
    return 0


def cmd_healthcheck(args) -> int:
    try:
        with urllib.request.urlopen(args.url, timeout=2) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as e:
        print(f"healthcheck: {args.url}: {e}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dnslab", description="DNS Chaos Lab")
    p.add_argument("--version", action="version", version=f"dnslab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("up", help="build the images and start the lab (waits until healthy)")
    s.add_argument("--no-build", action="store_true", help="use the images already built")
    s.add_argument("--no-grafana", action="store_true", help="do not start Grafana")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_up)

    s = sub.add_parser("down", help="stop the lab and remove its containers, networks, volumes")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_down)

    s = sub.add_parser("build", help="build the lab's images")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("status", help="list the lab's containers and their health")
    s.set_defaults(func=cmd_status, quiet=True)

    s = sub.add_parser("keygen", help="generate missing per-lab secrets into DIRECTORY")
    s.add_argument("directory")
    s.set_defaults(func=cmd_keygen)

    s = sub.add_parser("prober", help="run a prober (inside the lab network)")
    s.add_argument("--name", action="append", default=None, help="name to resolve (repeatable)")
    s.add_argument("--resolver", default=os.environ.get("LAB_RESOLVER_ADDRESS"))
    s.add_argument("--authoritative", default=os.environ.get("LAB_AUTH_ADDRESS"))
    s.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    s.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for an answer")
    s.add_argument("--port", type=int, default=9100, help="metrics port")
    s.add_argument("--max-seconds", type=float, default=24 * 3600,
                   help="stop by itself after this long (default 24 h)")
    s.set_defaults(func=cmd_prober)

    s = sub.add_parser("smoke", help="write a record through the API and resolve it")
    s.add_argument("--timeout", type=float, default=15.0)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_smoke)

    s = sub.add_parser("healthcheck", help="exit 0 when URL answers 200 (container healthchecks)")
    s.add_argument("url")
    s.set_defaults(func=cmd_healthcheck)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "prober":
        if not args.name:
            args.name = [config.SEED_NAME]
        if not (args.resolver and args.authoritative):
            print("dnslab: error: prober needs --resolver and --authoritative addresses "
                  "(or LAB_RESOLVER_ADDRESS / LAB_AUTH_ADDRESS)", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except LabError as e:
        print(f"dnslab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dnslab: interrupted", file=sys.stderr)
        return 130
