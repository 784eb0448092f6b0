"""The names search uses on its command line and in its results (kept apart from the
modules that run trials, so `dnslab`'s parser stays light for every worker's start)."""

EMPTY = "empty-endpoint"            # an endpoint's active plan was deleted: no addresses
BACKWARDS = "generation-backwards"  # an endpoint was moved to an older plan
# Each violation by the invariant that shows it (lab/core/checkers.py).
VIOLATIONS = {EMPTY: "never-delete-active-plan", BACKWARDS: "applied-generation-monotonic"}
STRATEGIES = ("random", "pct", "coverage")
