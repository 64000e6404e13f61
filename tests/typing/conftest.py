"""tests/typing holds code that mypy checks and pytest never imports or runs."""

collect_ignore = ["api_usage.py"]
