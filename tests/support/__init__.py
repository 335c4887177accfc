"""Test-only helpers (the ones shared with load tests and scripts live in devkit/)."""
