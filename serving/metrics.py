"""The server's own Prometheus metrics (`GET /metrics`, text format): requests by status code,
the latency of `/invocations`, the version served, version swaps, requests in flight, how long
ago the registry last confirmed the served version, and the inference log's backlog, rows written
and rows dropped. One registry per app, so two apps in one
process (tests) never share a count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from include.retraining.inference import LogCounts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a one-row answer (a few ms) to a 100,000-row request (seconds).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _FollowerCollector(Collector):
    """Read at scrape time from the follower: what is served, the swaps, the staleness."""

    def __init__(self, follower: Any, pending: Callable[[], int]) -> None:
        self._follower, self._pending = follower, pending

    def collect(self) -> Iterator[Any]:
        follower, state = self._follower, self._follower.state()
        served = GaugeMetricFamily(
            "serving_model_version_info", "The version answering requests (1).", labels=["model", "alias", "version"]
        )
        if state.served is not None:
            served.add_metric([follower.model_name, follower.alias, state.served.version], 1)
        yield served
        yield CounterMetricFamily("serving_swaps", "New versions swapped in after the first.", value=follower.swaps)
        yield GaugeMetricFamily(
            "serving_requests_in_flight", "Requests admitted and not answered.", value=self._pending()
        )
        confirmed = state.confirmed_at or (state.served.loaded_at if state.served else None)
        if confirmed is not None:
            age = (follower.now() - confirmed).total_seconds()
            yield GaugeMetricFamily(
                "serving_registry_confirmed_age_seconds",
                "Since the registry last confirmed the served version.",
                value=age,
            )


class _InferenceLogCollector(Collector):
    """Read at scrape time from the inference log's writer."""

    def __init__(self, counts: Callable[[], LogCounts]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Any]:
        counts = self._counts()
        yield GaugeMetricFamily(
            "serving_inference_log_backlog_rows", "Answered rows waiting to be written.", value=counts.backlog
        )
        yield CounterMetricFamily(
            "serving_inference_log_written_rows", "Rows written to the predictions table.", value=counts.written
        )
        yield CounterMetricFamily(
            "serving_inference_log_dropped_rows",
            "Rows never written: the queue was full, or shutdown came first.",
            value=counts.dropped,
        )
        yield CounterMetricFamily(
            "serving_inference_log_failed_writes", "Writes the database refused (retried).", value=counts.failed_writes
        )


class ServingMetrics:
    def __init__(
        self, follower: Any, pending: Callable[[], int], log_counts: Callable[[], LogCounts] | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "serving_requests", "Answers to /invocations by HTTP status code.", ["code"], registry=self.registry
        )
        self.latency = Histogram(
            "serving_request_seconds",
            "Time to answer /invocations, reading the body included.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_FollowerCollector(follower, pending))
        if log_counts is not None:
            self.registry.register(_InferenceLogCollector(log_counts))

    def observe(self, status: int, seconds: float) -> None:
        self.requests.labels(code=str(status)).inc()
        self.latency.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
