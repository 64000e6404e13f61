"""Chaos: faults at named targets, a TCP fault proxy, experiments and the runner.

.. versionadded:: 0.1
"""

from mitigate.chaos.experiment import (
    ExperimentResult,
    ExperimentSpec,
    experiment,
    workload,
)
from mitigate.chaos.faults import (
    ClockSkew,
    Corrupt,
    Drop,
    Failure,
    Fault,
    FaultContext,
    Latency,
    Outage,
    Partition,
    flip_bytes,
)
from mitigate.chaos.injector import FaultInjector, Injection, SkewedClock
from mitigate.chaos.nats_frames import NatsFrame, NatsFrames
from mitigate.chaos.probes import Check, Ledger, ProbeFailedError, SteadyStateError
from mitigate.chaos.proxy import Direction, FaultProxy, LinkConditions
from mitigate.chaos.run import Outcome, Run
from mitigate.chaos.stored import corrupt_file
from mitigate.chaos.timeline import Timeline
from mitigate.switches import Switches

__all__ = [
    "Check",
    "ClockSkew",
    "Corrupt",
    "Direction",
    "Drop",
    "ExperimentResult",
    "ExperimentSpec",
    "Failure",
    "Fault",
    "FaultContext",
    "FaultInjector",
    "FaultProxy",
    "Injection",
    "Latency",
    "Ledger",
    "LinkConditions",
    "NatsFrame",
    "NatsFrames",
    "Outage",
    "Outcome",
    "Partition",
    "ProbeFailedError",
    "Run",
    "SkewedClock",
    "SteadyStateError",
    "Switches",
    "Timeline",
    "corrupt_file",
    "experiment",
    "flip_bytes",
    "workload",
]
