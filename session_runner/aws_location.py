"""Where a role's boto3 clients point: the region, and another endpoint when one is set.

Every role takes `aws_region` and an optional `aws_endpoint_url` (LocalStack, moto, a
VPC endpoint); this is the one spelling of the client keyword arguments they become.
"""

from __future__ import annotations

from typing import Any


def client_location(region: str, endpoint_url: str | None) -> dict[str, Any]:
    """`region_name`, and `endpoint_url` only when set (empty: AWS's own endpoint)."""
    location: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        location["endpoint_url"] = endpoint_url
    return location
