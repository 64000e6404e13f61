"""Chaos: faults at named targets, a TCP fault proxy, experiments and the runner."""

from mitigate.chaos.proxy import Direction, FaultProxy, LinkConditions

__all__ = ["Direction", "FaultProxy", "LinkConditions"]
