"""Ports to what runs outside the edge (AI provider), with their fake servers."""
