"""The authoring domain: pure rules, no I/O."""
