"""Test helpers: real Redis and PostgreSQL servers, app subprocesses, free ports.

Nothing here fakes a server: every helper starts or talks to a real process.
"""
