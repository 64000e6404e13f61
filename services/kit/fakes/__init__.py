"""Fake providers: small ASGI apps with the HTTP shape of the real ones, scriptable to fail."""
