"""The safety net: every so often, reconcile every account even though no event said to.

Events drive the operator (spec changes, runner reports, child drift, Secrets);
this loop catches whatever no event reported — a watch that silently missed
something, an API outage during a retry budget. It is one task for the whole
operator rather than a kopf timer per account: a thousand per-object timers
each hold a task and a live body, which is most of an idle operator's memory.
"""

from __future__ import annotations

import asyncio
import logging

from wafleet_operator.kube import KubeError
from wafleet_operator.reconcile import API_VERSION, KIND, Context, reconcile

log = logging.getLogger(__name__)


async def resync_forever(ctx: Context, interval_s: float) -> None:
    """Sleep, then re-apply every account's children; forever, until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        namespaces: list[str | None] = list(ctx.settings.namespaces) or [None]
        for namespace in namespaces:
            try:
                accounts = await ctx.kube.list(API_VERSION, KIND, namespace)
            except KubeError as error:
                log.warning("resync: listing accounts failed: %s", error)
                continue
            for account in accounts:
                try:
                    await reconcile(ctx, account, apply_children=True, trigger="resync")
                except KubeError as error:
                    log.warning(
                        "resync of %s/%s failed: %s",
                        account["metadata"].get("namespace"),
                        account["metadata"].get("name"),
                        error,
                    )
