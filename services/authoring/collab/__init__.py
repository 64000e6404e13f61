"""Collaborative editing: rooms of pycrdt documents over WebSocket, their snapshots and
event log, the router across collab processes, single-user mode and the repair tool."""
