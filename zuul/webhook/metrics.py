"""Prometheus metrics of a webhook worker (served at ``/metrics``)."""
from __future__ import annotations

import prometheus_client

REQUESTS = prometheus_client.Counter(
    "zuul_webhook_requests_total", "Webhook requests answered, by connection and status code",
    ["connection", "code"])
ACCEPT_SECONDS = prometheus_client.Histogram(
    "zuul_webhook_accept_seconds", "Time from request start to the 200 (spool write included)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
SUBMISSIONS = prometheus_client.Counter(
    "zuul_webhook_submissions_total",
    "Events submitted over gearman by outcome (accepted, duplicate, rejected by the "
    "scheduler; retry)", ["connection", "result"])
JOBS = prometheus_client.Counter(
    "zuul_webhook_gearman_jobs_total",
    "Gearman jobs submitted (each carries one event, or a batch of those waiting)",
    ["connection"])
SPOOL_EVENTS = prometheus_client.Gauge(
    "zuul_webhook_spool_events", "Events in the spool, not yet answered by the scheduler")
SPOOL_BYTES = prometheus_client.Gauge(
    "zuul_webhook_spool_bytes", "Bytes of events in the spool")
