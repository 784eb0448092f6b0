"""The outage's second act on real processes: the lease service (service.py) and the fleet
manager (fleet.py), talking the lease protocol (wire.py) over TCP. Both run the pure core's
rules (lab/core/cascade.py) on the real clock; the lab's worker containers run them."""
