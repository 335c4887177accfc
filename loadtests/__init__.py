"""Load tests (locust) and the benchmark harness; see docs/performance.md."""
