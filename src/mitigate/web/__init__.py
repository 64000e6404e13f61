"""ASGI pieces: middleware (tenant, rate limits, error envelope) and routes (keys, objects)."""
