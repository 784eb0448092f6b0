"""DNS Chaos Lab: real DNS servers, faulted control-plane workers, measured blast radius."""

__version__ = "0.1.0"
