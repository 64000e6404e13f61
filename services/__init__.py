"""The platform the seeds describe: content, authoring, theme, comms and edge.

Each service is a package (``services.content``, ...) built on mitigate's public API and
the platform layer ``services.kit`` they share.
"""
