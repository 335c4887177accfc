"""What every process of the watch service shares: settings, tokens, errors, Redis key names,
PostgreSQL models and telemetry."""
