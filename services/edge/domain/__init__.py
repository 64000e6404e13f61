"""Pure edge rules: no I/O."""
