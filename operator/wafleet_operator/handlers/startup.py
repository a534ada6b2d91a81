"""Operator startup: kopf's settings, the API client and metrics, set once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from wafleet_operator import metrics
from wafleet_operator.config import ANNOTATION_PREFIX, FINALIZER, OperatorSettings
from wafleet_operator.kube import Kube
from wafleet_operator.metrics import PhaseBook
from wafleet_operator.reconcile import Context
from wafleet_operator.resync import resync_forever


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    """Everything kopf keeps on our resources goes under wafleet.io, not kopf's defaults."""
    kopf_settings.persistence.finalizer = FINALIZER
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    kopf_settings.watching.server_timeout = settings.watch_server_timeout_s
    kopf_settings.watching.client_timeout = settings.watch_client_timeout_s
    kopf_settings.networking.request_timeout = settings.api_request_timeout_s
    # Our own events say what happened; kopf's "Handler succeeded" chatter does not.
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.scanning.disabled = False
    # Bound the per-object workers during a storm (1,000 accounts created at once)
    # and let idle ones go soon: each holds its object's latest body.
    kopf_settings.queueing.worker_limit = 128
    kopf_settings.queueing.idle_timeout = 1.0
    # kopf posts each object's Events from a worker of its own, unbounded by default, over
    # a connection pool it never bounds; aiohttp keeps every connection it opened alive,
    # and each TLS one costs ~0.3 MB resident (see kube.MAX_CONNECTIONS). A burst of 1,000
    # accounts each announcing its phase had up to 35 posts in flight. 16 posters keep up
    # with that burst if they exit 0.1 s after their last Event rather than kopf's 1 s: an
    # idle poster holds its slot, and 8 slots held 1 s each left 600 Events queued.
    kopf_settings.posting.worker_limit = 16
    kopf_settings.posting.idle_timeout = 0.1


def register(registry: kopf.OperatorRegistry, operator_settings: OperatorSettings) -> None:
    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        configure_kopf(settings, operator_settings)
        memo["ctx"] = Context(
            kube=await Kube.connect(), settings=operator_settings, phases=PhaseBook()
        )
        metrics.serve(operator_settings.metrics_port)
        memo["resync"] = asyncio.create_task(
            resync_forever(memo["ctx"], operator_settings.resync_interval_s), name="resync"
        )

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """In a pod: the service account; elsewhere: the kubeconfig ($KUBECONFIG or ~/.kube/config)."""
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        task = memo.get("resync")
        if task is not None:
            task.cancel()
        ctx = memo.get("ctx")
        if ctx is not None:
            await ctx.kube.close()
