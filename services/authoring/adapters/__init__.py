"""Ports to the services authoring depends on, and their fakes."""
