"""Waiting for a fresh RoleBinding to take effect, as the API server itself says.

The API server's RBAC authorizer reads Roles and RoleBindings from an
informer cache, so the first request a new ServiceAccount token makes right
after its binding was created can still be refused. Tests that start
processes "as the pod" (with a TokenRequest token) wait for the server's own
answer (SelfSubjectAccessReview, asked with that token) before they start,
instead of sleeping or letting the first refusal look like a fault.
"""

from __future__ import annotations

import time

import httpx


def wait_until_allowed(
    http: httpx.Client,
    namespace: str,
    group: str,
    resource: str,
    verb: str,
    name: str = "",
    timeout: float = 30.0,
) -> None:
    """Poll SelfSubjectAccessReview with `http` (the token's client) until `verb` is allowed.

    Raises AssertionError with the server's last answer after `timeout` seconds
    (a guard against a wrong Role, not a timing assertion).
    """
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": namespace,
                "group": group,
                "resource": resource,
                "verb": verb,
                "name": name,
            }
        },
    }
    deadline = time.monotonic() + timeout
    while True:
        answer = http.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review)
        answer.raise_for_status()
        if answer.json()["status"].get("allowed"):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"RBAC never allowed {verb} {resource}/{name}: {answer.text}")
        time.sleep(0.05)
