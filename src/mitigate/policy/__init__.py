"""The resilience policies and the pipeline that composes them."""

from mitigate.policy.injection import NO_RESULT, FaultDecision, Injector

__all__ = ["NO_RESULT", "FaultDecision", "Injector"]
