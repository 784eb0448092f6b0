import signal
import sys

# Ctrl-C (SIGINT) stops dnslab at any moment, even when it inherited SIGINT ignored (a
# background job of a script): before its run loop began nothing has changed yet.
try:
    signal.signal(signal.SIGINT, signal.default_int_handler)
except ValueError:          # not the main thread (imported, not run)
    pass
try:
    from lab.cli import main
    code = main()
except KeyboardInterrupt:
    print("dnslab: interrupted", file=sys.stderr)
    code = 130
raise SystemExit(code)
