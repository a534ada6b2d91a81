"""Where an account's snapshot objects live in its bucket.

One function decides the account's key prefix, so the runner that writes
snapshots and the operator that deletes them on `deletionPolicy: Delete`
can never disagree about which keys belong to the account.
"""

from __future__ import annotations


def account_prefix(prefix: str, namespace: str, account: str) -> str:
    """`<prefix>/<namespace>/<account>/`: namespaced, so two clusters or teams can share a bucket."""
    base = prefix.strip("/")
    parts = [base] if base else []
    parts += [namespace, account]
    return "/".join(parts) + "/"
