"""The comms service's HTTP routes."""
