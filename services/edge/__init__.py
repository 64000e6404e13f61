"""The edge worker API (seed 004): tenant resolution, error envelope, KV, per-key actors."""
