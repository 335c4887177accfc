"""Prometheus metrics of a worker process (its own registry, served on WORKER_METRICS_PORT).

Outbox gauges describe the shared Redis state (every worker reports every partition: take
the max per partition, not the sum); counters are this worker's own work.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.process_metrics import with_process_metrics


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = with_process_metrics(CollectorRegistry())
        self.outbox_entries = Gauge(
            "worker_outbox_entries",
            "Entries waiting in a partition's outbox stream",
            ["partition"],
            registry=r,
        )
        self.outbox_lag = Gauge(
            "worker_outbox_lag_seconds",
            "Age of the oldest unacknowledged entry of a partition's outbox (0 when empty)",
            ["partition"],
            registry=r,
        )
        self.dead_letter_entries = Gauge(
            "worker_dead_letter_entries",
            "Entries in a partition's dead-letter stream",
            ["partition"],
            registry=r,
        )
        self.partitions_held = Gauge(
            "worker_partitions_held", "Partitions whose outbox this worker drains", registry=r
        )
        self.batches = Counter(
            "worker_batches_total", "Batches committed to PostgreSQL and acknowledged", registry=r
        )
        self.rows = Counter(
            "worker_rows_written_total",
            "Rows written: ledger grants newly inserted (paid, held), grants that were replays "
            "(already in the ledger), review flags, watch-session rows upserted, views counted",
            ["kind"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "worker_batch_seconds",
            "PostgreSQL transaction time of one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_lag = Histogram(
            "worker_batch_lag_seconds",
            "Age of the oldest entry of a batch when it was acknowledged",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.dead_letters = Counter(
            "worker_dead_letters_total",
            "Outbox entries moved to the dead-letter streams",
            ["reason"],
            registry=r,
        )
        self.claimed = Counter(
            "worker_claimed_total",
            "Entries taken over from another consumer (XAUTOCLAIM)",
            registry=r,
        )
        self.errors = Counter(
            "worker_drain_errors_total",
            "Drain failures by kind: postgres (retried), data (batch split), redis (retried)",
            ["kind"],
            registry=r,
        )
        self.reconcile_repairs = Counter(
            "worker_reconcile_repairs_total",
            "Redis balance fields repaired by the reconcile job (pend, pg)",
            ["field"],
            registry=r,
        )
        self.reconcile_runs = Counter(
            "worker_reconcile_runs_total", "Reconcile passes completed", registry=r
        )
        self.jobs = Counter(
            "worker_jobs_total", "Cron job runs by job and outcome", ["job", "outcome"], registry=r
        )
