"""kopf handlers, one module per resource; `register` wires them with the loaded settings."""

from __future__ import annotations

import kopf

from wafleet_operator.config import OperatorSettings
from wafleet_operator.handlers import children, sender_pool, startup, whatsapp_account


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    startup.register(registry, settings)
    whatsapp_account.register(registry, settings)
    children.register(registry)
    sender_pool.register(registry, settings)
