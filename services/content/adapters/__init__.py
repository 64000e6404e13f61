"""Ports of the content service's device side, one module each: the key ring's data-key
wrapping (KMS), the push provider, the CDN, the AI gateway."""
