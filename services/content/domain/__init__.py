"""The content service's domain: entities, invariants and decisions, with no I/O."""
