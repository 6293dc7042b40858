"""Prometheus metrics, in a registry of each app's own so that apps in one process
(tests start several) never share or clash.

`qa serve` with several workers sets PROMETHEUS_MULTIPROC_DIR before this is imported:
each worker's counts then go to files there, and a scrape, whichever worker answers it,
adds up every worker's.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from qa.service import Service
from qa.serving import METRICS_ENV

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "qa_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qa_request_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.questions = Counter("qa_questions", "Questions answered.", registry=self.registry)
        self.abstentions = Counter(
            "qa_abstentions",
            "Questions nothing in the articles answered.",
            registry=self.registry,
        )
        # Every worker serves the index on disk: the one read last says it.
        self.articles = Gauge(
            "qa_index_articles",
            "Articles indexed.",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.passages = Gauge(
            "qa_index_passages",
            "Passages indexed.",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.batches = Gauge(
            "qa_model_batches",
            "Model calls made for questions.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def render(self, service: Service) -> bytes:
        """The exposition text, with the index figures read at scrape time."""
        index = service.status()
        self.articles.set(index.articles if index else 0)
        self.passages.set(index.passages if index else 0)
        self.batches.set(service.batches)
        shared = os.environ.get(METRICS_ENV)
        if not shared:
            return generate_latest(self.registry)
        every = CollectorRegistry()
        MultiProcessCollector(every, shared)  # type: ignore[no-untyped-call]
        return generate_latest(every)
