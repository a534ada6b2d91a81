"""Where wafleet's resources live in the Kubernetes API: one spelling for every side.

The operator's models (`wafleet_operator.api`) generate the CRDs with this
group and version; the runner reads and reports on its account at
`account_path`, and the CLI lists and annotates accounts there.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "wafleet.io"
VERSION: Final = "v1alpha1"
ACCOUNT_PLURAL: Final = "whatsappaccounts"


def account_path(namespace: str | None = None, name: str | None = None) -> str:
    """The API path of one account, of a namespace's accounts, or (no namespace) of all."""
    base = f"/apis/{GROUP}/{VERSION}"
    collection = (
        f"{base}/namespaces/{namespace}/{ACCOUNT_PLURAL}"
        if namespace
        else f"{base}/{ACCOUNT_PLURAL}"
    )
    return f"{collection}/{name}" if name else collection
