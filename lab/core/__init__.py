"""The pure core: no docker, dnspython, prometheus_client, time or random imports here.

Clock, sleep, randomness and every outside client are passed in, so the same code runs
against real containers and in tests with a virtual clock (tests/unit/test_core_purity.py).
"""
