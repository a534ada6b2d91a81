"""Which subscriptions an event reaches, and how a WebhookSubscription object is read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_runner.dispatcher.routing import SUBSCRIPTION_TYPES, routes, wants
from session_runner.dispatcher.subscriber import DEFAULT_SCHEDULE_S, Subscriber
from session_runner.events.event import Event, EventType, Source

AT = datetime(2026, 12, 6, tzinfo=UTC)


def subscription(
    name: str = "crm",
    *,
    namespace: str = "shop",
    types: tuple[str, ...] = ("message.received", "message.status"),
    accounts: tuple[str, ...] | None = None,
    generation: int = 1,
    disabled: bool = False,
    conditions: list[dict[str, Any]] | None = None,
) -> Subscriber:
    spec: dict[str, Any] = {
        "url": f"https://{name}.example.com/hooks",
        "eventTypes": list(types),
        "signingSecret": {"name": f"{name}-secret"},
        "disabled": disabled,
    }
    if accounts is not None:
        spec["accounts"] = list(accounts)
    obj = {
        "metadata": {"namespace": namespace, "name": name, "generation": generation},
        "spec": spec,
        "status": {"conditions": conditions or []},
    }
    return Subscriber.from_object(obj)


def account_event(kind: EventType, *, account: str = "sales", namespace: str = "shop") -> Event:
    return Event.create(
        type=kind,
        source=Source.SESSION,
        vendor_message_id="3EB0C0FFEE",
        at=AT,
        namespace=namespace,
        account=account,
    )


def pool_event(kind: EventType) -> Event:
    return Event.create(
        type=kind, source=Source.TWILIO, vendor_message_id="SM1", at=AT, namespace="shop", pool="tw"
    )


@pytest.mark.parametrize(
    ("subscriber", "event", "wanted"),
    [
        pytest.param(subscription(), account_event(EventType.INBOUND), True, id="inbound"),
        pytest.param(subscription(), account_event(EventType.READ), True, id="a status"),
        pytest.param(
            subscription(types=("message.received",)),
            account_event(EventType.DELIVERED),
            False,
            id="statuses not asked for",
        ),
        pytest.param(
            subscription(types=("message.status",)),
            account_event(EventType.FAILED),
            True,
            id="failed is a status",
        ),
        pytest.param(
            subscription(types=("account.status",)),
            account_event(EventType.INBOUND),
            False,
            id="account events are not message events",
        ),
        pytest.param(
            subscription(),
            account_event(EventType.INBOUND, namespace="other"),
            False,
            id="never another namespace's events",
        ),
        pytest.param(
            subscription(accounts=("sales",)),
            account_event(EventType.INBOUND),
            True,
            id="a listed account",
        ),
        pytest.param(
            subscription(accounts=("support",)),
            account_event(EventType.INBOUND),
            False,
            id="an account not listed",
        ),
        pytest.param(
            subscription(accounts=("sales",)),
            pool_event(EventType.DELIVERED),
            False,
            id="accounts listed: no vendor pool events",
        ),
        pytest.param(
            subscription(accounts=()),
            pool_event(EventType.DELIVERED),
            True,
            id="an empty list means everything",
        ),
    ],
)
def test_wants(subscriber: Subscriber, event: Event, wanted: bool) -> None:
    assert wants(subscriber, event) is wanted


def tombstoned_at(generation: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "Tombstoned",
            "status": "True",
            "reason": "TooManyFailures",
            "observedGeneration": generation,
        }
    ]


@pytest.mark.parametrize(
    ("subscriber", "live"),
    [
        pytest.param(subscription(), True, id="active"),
        pytest.param(subscription(disabled=True), False, id="disabled"),
        pytest.param(
            subscription(generation=3, conditions=tombstoned_at(3)), False, id="tombstoned"
        ),
        pytest.param(
            subscription(generation=4, conditions=tombstoned_at(3)),
            True,
            id="a spec change since resurrects it",
        ),
    ],
)
def test_live(subscriber: Subscriber, live: bool) -> None:
    assert subscriber.live is live


def test_routes_are_the_live_subscribers_that_want_it_in_key_order() -> None:
    event = account_event(EventType.INBOUND)
    everyone = [
        subscription("zeta"),
        subscription("alpha"),
        subscription("off", disabled=True),
        subscription("statuses", types=("message.status",)),
    ]
    assert [s.name for s in routes(event, everyone)] == ["alpha", "zeta"]


def test_the_crd_defaults_apply_to_an_object_without_them() -> None:
    crm = subscription()
    assert crm.timeout_s == 5.0
    assert crm.schedule_s == DEFAULT_SCHEDULE_S
    assert crm.failures_in_24h == 20
    assert crm.secret_key == "secret"
    assert crm.key == "shop/crm"


def test_every_event_type_the_crd_offers_is_routed() -> None:
    from wafleet_operator.api.webhook_subscription import (
        DEFAULT_RETRY_SCHEDULE,
    )
    from wafleet_operator.api.webhook_subscription import (
        EventType as SubscriptionEventType,
    )

    assert set(SUBSCRIPTION_TYPES) == {t.value for t in SubscriptionEventType}
    assert DEFAULT_RETRY_SCHEDULE == DEFAULT_SCHEDULE_S
    covered = set().union(*SUBSCRIPTION_TYPES.values())
    assert covered == set(EventType)  # every event some subscription can ask for
