"""The simulation world: any experiment file, unchanged, as a deterministic discrete-event
simulation of the same core code (planner, enactors, run loop, checkers) on a virtual clock.
See docs/design.md, "The simulation"."""
