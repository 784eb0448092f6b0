"""Plan stores: where plan generations and per-endpoint locks live."""
