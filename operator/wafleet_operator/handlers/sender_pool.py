"""kopf handlers for SenderPools: spec changes, the periodic sync, the finalizer."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from session_runner.contract.resources import GROUP, VERSION
from wafleet_operator.config import OperatorSettings
from wafleet_operator.kube import KubeError
from wafleet_operator.pools.deletion import delete_pool
from wafleet_operator.pools.reconcile import reconcile_pool

from .retry_policy import kopf_outcome

log = logging.getLogger(__name__)

POOLS = (GROUP, VERSION, "senderpools")


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    """Register the pool handlers; called once at startup with the loaded settings."""

    @kopf.on.resume(*POOLS, id="pool_changed", registry=registry)
    @kopf.on.create(*POOLS, id="pool_changed", registry=registry)
    @kopf.on.update(*POOLS, id="pool_changed", field="spec", registry=registry)
    async def pool_changed(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
        try:
            await reconcile_pool(memo["ctx"], body, trigger="spec")
        except KubeError as error:
            raise kopf_outcome(error, retry) from None

    @kopf.timer(
        *POOLS,
        id="pool_sync",
        interval=settings.pool_sync_interval_s,
        initial_delay=settings.pool_sync_interval_s,
        registry=registry,
    )
    async def pool_sync(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """Queue depth → replicas → status, every interval; errors wait for the next tick.

        An API error is logged, not raised: kopf would hold a raising timer back for its
        own backoff (60 s), far longer than the next tick."""
        try:
            await reconcile_pool(memo["ctx"], body, trigger="sync", ensure_queues=False)
        except KubeError as error:
            log.warning(
                "SenderPool %s/%s: sync failed, next in %g s: %s",
                body["metadata"]["namespace"],
                body["metadata"]["name"],
                settings.pool_sync_interval_s,
                error,
            )

    @kopf.on.delete(*POOLS, id="pool_deleted", registry=registry)
    async def pool_deleted(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
        await delete_pool(memo["ctx"], body, retry=retry)
