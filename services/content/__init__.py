"""The content service (seed 000): publish saga, bundles, devices, keys, downloads, imports."""
