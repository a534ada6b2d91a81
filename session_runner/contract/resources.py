"""Where wafleet's resources live in the Kubernetes API: one spelling for every side.

The operator's models (`wafleet_operator.api`) generate the CRDs with this
group and version; the runner reads and reports on its account at
`account_path`, and the CLI lists and annotates accounts there; the CLI and the
webhook ingest read a SenderPool at `pool_path`; the webhook dispatcher lists
and reports on WebhookSubscriptions at `subscription_path`.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "wafleet.io"
VERSION: Final = "v1alpha1"
ACCOUNT_PLURAL: Final = "whatsappaccounts"
POOL_PLURAL: Final = "senderpools"
SUBSCRIPTION_PLURAL: Final = "webhooksubscriptions"


def account_path(namespace: str | None = None, name: str | None = None) -> str:
    """The API path of one account, of a namespace's accounts, or (no namespace) of all."""
    base = f"/apis/{GROUP}/{VERSION}"
    collection = (
        f"{base}/namespaces/{namespace}/{ACCOUNT_PLURAL}"
        if namespace
        else f"{base}/{ACCOUNT_PLURAL}"
    )
    return f"{collection}/{name}" if name else collection


def pool_path(namespace: str, name: str) -> str:
    """The API path of one SenderPool."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{POOL_PLURAL}/{name}"


def subscription_path(namespace: str | None = None, name: str | None = None) -> str:
    """The API path of one WebhookSubscription, of a namespace's, or (no namespace) of all."""
    base = f"/apis/{GROUP}/{VERSION}"
    collection = (
        f"{base}/namespaces/{namespace}/{SUBSCRIPTION_PLURAL}"
        if namespace
        else f"{base}/{SUBSCRIPTION_PLURAL}"
    )
    return f"{collection}/{name}" if name else collection
