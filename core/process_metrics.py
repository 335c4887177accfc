"""The `process_*` series (resident and virtual memory, CPU seconds, open and maximum file
descriptors, start time) and `python_info` on a process's own registry.

Every process serves a CollectorRegistry of its own (the hub's and the worker's metrics
objects, the api's app), not prometheus_client's global REGISTRY, which is where the
library puts these collectors by itself: without this they would be missing. Values are
read from /proc at scrape time (on a system without /proc the process_* series are simply
absent); nothing runs between scrapes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector


def with_process_metrics(registry: CollectorRegistry) -> CollectorRegistry:
    """Register the process and platform collectors on `registry`; return it."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
