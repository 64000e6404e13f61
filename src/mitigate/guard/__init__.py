"""Guards: fail-closed tenancy with PostgreSQL row-level security, allow-list HTML,
streaming archive inspection with quarantine, and IP blocking after repeated failures.

.. versionadded:: 0.1
"""
