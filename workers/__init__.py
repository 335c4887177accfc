"""The worker process (arq): the outbox consumer that writes grants and session events to
PostgreSQL exactly once, and the cron jobs (reconcile, sweep, viewer counts, expiry, dead
letters). See docs/money.md."""
