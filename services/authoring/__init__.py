"""The authoring service (seed 001): drafts of blocks, the publish saga, AI provenance."""
