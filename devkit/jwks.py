"""Token signing keys for the tests: the product's key maker (core/keygen.py)."""

from core.keygen import new_ec, new_oct, new_rsa, public, write

__all__ = ["new_ec", "new_oct", "new_rsa", "public", "write"]
