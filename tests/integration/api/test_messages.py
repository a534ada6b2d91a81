"""`POST /v1/messages` and `GET /v1/messages/{id}` on moto and the real API server.

What a send must do: publish exactly the message asked for, with the pool's target, to
the outbound topic (read back from a queue subscribed as the operator subscribes a
pool's); answer a retry with an Idempotency-Key with the original message and publish
nothing new; refuse what no pool would take, naming the field and why. What a read must
show: the message's state and history as the ledger and its delivery attributes hold
them, written here by the ledger's own code, as the sender and the webhook ingest do.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest

from session_runner.api.idempotency import message_id_for
from session_runner.contract.resources import GROUP, VERSION
from session_runner.events.delivery import DeliveryLedger
from session_runner.events.event import Event, EventType, Source
from session_runner.sender.message import MESSAGE_ID_PATTERN
from tests.integration.api.conftest import TABLE, Api, Objects, Outbound

TO = "+14155550123"


async def test_a_message_to_a_target_is_published_once_with_that_target(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    answer = await api.client.post(
        "/v1/messages", json={"target": "alpha", "to": TO, "text": "hello"}, headers=api.admin
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert re.match(MESSAGE_ID_PATTERN, body["id"])
    assert answer.headers["location"] == f"/v1/messages/{body['id']}"
    assert body["target"] == "alpha"
    assert body["to"] == TO
    assert body["account"] is None
    (published,) = outbound.received(queue)
    assert (published.id, published.target, published.to, published.text) == (
        body["id"],
        "alpha",
        TO,
        "hello",
    )

    shown = await api.client.get(f"/v1/messages/{body['id']}", headers=api.admin)
    assert shown.status_code == 200
    assert shown.json()["state"] == "queued"
    assert [step["state"] for step in shown.json()["history"]] == ["queued"]
    assert shown.json()["history"][0]["at"] is not None


async def test_the_same_idempotency_key_and_body_return_the_original_message(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    body = {"target": "alpha", "to": TO, "text": "order 1 shipped"}
    headers = {**api.admin, "Idempotency-Key": "order-1"}
    first = await api.client.post("/v1/messages", json=body, headers=headers)
    # Key order and an explicit null do not make another body.
    again = await api.client.post(
        "/v1/messages",
        json={"text": "order 1 shipped", "account": None, "to": TO, "target": "alpha"},
        headers=headers,
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == message_id_for("admin", "order-1")
    # the replay published the one id again (the sender's ledger sends it once)
    assert [m.id for m in outbound.received(queue)] == [first.json()["id"]] * 2


async def test_a_retry_after_its_pool_was_deleted_still_gets_the_original_message(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    """The put, not a read, finds a retry's record; a retry that can no longer be routed
    looks it up instead of answering 422 for a message that was accepted."""
    queue = objects.pool("gone-pool", "gone")
    assert queue is not None
    body = {"target": "gone", "to": TO, "text": "order 9 shipped"}
    headers = {**api.admin, "Idempotency-Key": "order-9"}
    first = await api.client.post("/v1/messages", json=body, headers=headers)
    objects.cluster.custom.delete_namespaced_custom_object(
        GROUP, VERSION, objects.cluster.namespace, "senderpools", "gone-pool"
    )
    again = await api.client.post("/v1/messages", json=body, headers=headers)
    fresh = await api.client.post(
        "/v1/messages", json=body, headers={**api.admin, "Idempotency-Key": "order-10"}
    )
    assert (first.status_code, again.status_code, fresh.status_code) == (202, 200, 422)
    assert again.json() == first.json()
    assert {m.id for m in outbound.received(queue)} == {first.json()["id"]}


async def test_the_same_idempotency_key_with_another_body_is_409_naming_the_header(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    headers = {**api.admin, "Idempotency-Key": "order-2"}
    first = await api.client.post(
        "/v1/messages", json={"target": "alpha", "to": TO, "text": "one"}, headers=headers
    )
    other = await api.client.post(
        "/v1/messages", json={"target": "alpha", "to": TO, "text": "two"}, headers=headers
    )
    assert first.status_code == 202
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    problem = other.json()
    assert problem["type"] == "urn:wafleet:problem:idempotency-conflict"
    assert problem["errors"] == [
        {
            "field": "Idempotency-Key",
            "in": "header",
            "message": "already used for a different message: use a new key",
        }
    ]
    assert [m.text for m in outbound.received(queue)] == ["one"]


async def test_two_api_keys_never_share_an_idempotency_key(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    body = {"target": "alpha", "to": TO, "text": "hi"}
    mine = await api.client.post(
        "/v1/messages", json=body, headers={**api.admin, "Idempotency-Key": "k"}
    )
    theirs = await api.client.post(
        "/v1/messages", json=body, headers={**api.as_(api.keys.scoped), "Idempotency-Key": "k"}
    )
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["id"] != theirs.json()["id"]
    assert len(outbound.received(queue)) == 2


async def test_concurrent_retries_of_one_key_create_one_message(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    headers = {**api.admin, "Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(
            api.client.post(
                "/v1/messages", json={"target": "alpha", "to": TO, "text": "x"}, headers=headers
            )
            for _ in range(6)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202]
    assert {a.json()["id"] for a in answers} == {message_id_for("admin", "burst")}
    # A retry that lands while the first is publishing publishes the same id again: the
    # sender's ledger sends an id once. Never another id.
    assert {m.id for m in outbound.received(queue)} == {message_id_for("admin", "burst")}


async def test_a_publish_that_failed_is_finished_by_the_retry(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    outbound.sns.delete_topic(TopicArn=outbound.topic_arn)  # SNS refuses the publish
    headers = {**api.admin, "Idempotency-Key": "order-3"}
    body = {"target": "alpha", "to": TO, "text": "third"}
    failed = await api.client.post("/v1/messages", json=body, headers=headers)
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "1"
    assert "same Idempotency-Key" in failed.json()["detail"]

    assert outbound.sns.create_topic(Name="wafleet-outbound")["TopicArn"] == outbound.topic_arn
    queue = outbound.pool_queue("alpha")  # the subscription went with the topic
    retried = await api.client.post("/v1/messages", json=body, headers=headers)
    assert retried.status_code == 200
    assert retried.json()["id"] == message_id_for("admin", "order-3")
    assert [m.id for m in outbound.received(queue)] == [retried.json()["id"]]
    again = await api.client.post("/v1/messages", json=body, headers=headers)
    assert again.status_code == 200
    # a replay publishes again (nothing records that SNS took it): the same id, which the
    # sender's ledger sends once, never another
    assert [m.id for m in outbound.received(queue)] == [retried.json()["id"]]


def alices_session(objects: Objects) -> str:
    """Account alice, wired to its session pool alice-session (target alice-target); the
    pool's queue URL."""
    queue = objects.pool("alice-session", "alice-target", vendor="session", account="alice")
    assert queue is not None
    objects.account("alice", wired_pool="alice-session")
    return queue


async def test_a_message_through_an_account_goes_to_its_session_pool(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    queue = alices_session(objects)
    answer = await api.client.post(
        "/v1/messages", json={"account": "alice", "to": TO, "text": "hi"}, headers=api.admin
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["account"] == "alice"
    assert answer.json()["target"] == "alice-target"
    (published,) = outbound.received(queue)
    assert published.target == "alice-target"
    shown = await api.client.get(f"/v1/messages/{answer.json()['id']}", headers=api.admin)
    assert shown.json()["account"] == "alice"


async def test_what_no_pool_takes_is_422_naming_the_field_and_why(
    api: Api, objects: Objects
) -> None:
    objects.pool("broken", "broken", ready=False)
    objects.account("bob")  # no session pool wired to it

    async def problem(body: dict[str, str]) -> dict[str, object]:
        answer = await api.client.post("/v1/messages", json=body, headers=api.admin)
        assert answer.status_code == 422, answer.text
        return dict(answer.json())

    nowhere = await problem({"target": "nowhere", "to": TO, "text": "x"})
    assert nowhere["errors"][0]["field"] == "target"  # type: ignore[index]
    assert "no SenderPool in namespace" in str(nowhere["detail"])
    broken = await problem({"target": "broken", "to": TO, "text": "x"})
    assert "SenderPool broken is not ready: credentialsSecret: Secret not found" in str(
        broken["detail"]
    )
    bob = await problem({"account": "bob", "to": TO, "text": "x"})
    assert bob["errors"][0]["field"] == "account"  # type: ignore[index]
    assert "no SenderPool with vendor session" in str(bob["detail"])
    ghost = await problem({"account": "ghost", "to": TO, "text": "x"})
    assert ghost["errors"] == [
        {
            "field": "account",
            "in": "body",
            "message": f"no WhatsAppAccount ghost in namespace {api.context.namespace}",
        }
    ]


async def test_a_key_limited_to_targets_and_accounts_gets_403_elsewhere(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    objects.pool("alpha-pool", "alpha")
    objects.pool("beta-pool", "beta")
    scoped = api.as_(api.keys.scoped)
    body = {"to": TO, "text": "x"}
    allowed = await api.client.post(
        "/v1/messages", json={**body, "target": "alpha"}, headers=scoped
    )
    refused = await api.client.post("/v1/messages", json={**body, "target": "beta"}, headers=scoped)
    other_account = await api.client.post(
        "/v1/messages", json={**body, "account": "bob"}, headers=scoped
    )
    assert allowed.status_code == 202
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this API key may not send to target beta"
    assert other_account.status_code == 403
    nobody = await api.client.post(
        "/v1/messages", json={**body, "target": "alpha"}, headers=api.as_(api.keys.nobody)
    )
    assert nobody.status_code == 403

    admins = await api.client.post(
        "/v1/messages", json={**body, "target": "beta"}, headers=api.admin
    )
    read = await api.client.get(f"/v1/messages/{admins.json()['id']}", headers=scoped)
    assert read.status_code == 403
    mine = await api.client.get(f"/v1/messages/{allowed.json()['id']}", headers=scoped)
    assert mine.status_code == 200


async def test_the_state_and_history_follow_the_ledger_and_delivery_statuses(
    api: Api, objects: Objects, outbound: Outbound
) -> None:
    objects.pool("alpha-pool", "alpha")
    sent = await api.client.post(
        "/v1/messages", json={"target": "alpha", "to": TO, "text": "x"}, headers=api.admin
    )
    message_id = sent.json()["id"]

    async def shown() -> dict[str, object]:
        answer = await api.client.get(f"/v1/messages/{message_id}", headers=api.admin)
        assert answer.status_code == 200
        return dict(answer.json())

    ledger = api.context.ledger  # the sender's own ledger code, on the same table
    await ledger.claim(message_id, "sender-a", 60.0)
    assert (await shown())["state"] == "sending"
    await ledger.record_sent(message_id, "sender-a", "SM123")
    view = await shown()
    assert (view["state"], view["vendor_message_id"], view["attempts"]) == ("sent", "SM123", 1)

    deliveries = DeliveryLedger(api.context.records.client, TABLE)

    def status(kind: EventType, code: str | None = None) -> Event:
        return Event.create(
            type=kind,
            source=Source.TWILIO,
            vendor_message_id="SM123",
            at=datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
            namespace=api.context.namespace,
            pool="alpha-pool",
            message_id=message_id,
            error_code=code,
        )

    await deliveries.record(message_id, status(EventType.READ))
    view = await shown()
    assert view["state"] == "read"
    assert [(s["state"], s["at"] is not None) for s in view["history"]] == [  # type: ignore[attr-defined]
        ("queued", True),
        ("sending", False),
        ("sent", True),
        ("delivered", False),
        ("read", True),
    ]
    await deliveries.record(message_id, status(EventType.FAILED, code="63016"))
    view = await shown()
    assert (view["state"], view["reason"]) == ("failed", "63016")


async def test_a_message_nobody_sent_is_404_and_a_sender_failure_shows_its_reason(
    api: Api, objects: Objects
) -> None:
    missing = await api.client.get("/v1/messages/order-404", headers=api.admin)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no message order-404"
    # A message the CLI sent (no API record): the ledger alone tells its state.
    await api.context.ledger.claim("cli-1", "sender-a", 60.0)
    await api.context.ledger.record_failed("cli-1", "sender-a", "21610: unsubscribed recipient")
    answer = await api.client.get("/v1/messages/cli-1", headers=api.admin)
    assert answer.json()["state"] == "failed"
    assert answer.json()["reason"] == "21610: unsubscribed recipient"
    # ... which only a key without limits may read: nothing says where it went.
    scoped = await api.client.get("/v1/messages/cli-1", headers=api.as_(api.keys.scoped))
    assert scoped.status_code == 403


async def test_a_template_and_a_media_message_reach_the_pools_queue_as_sent(
    api: Api, objects: Objects, outbound: Outbound, media_server: str
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    template = {"name": "order_shipped", "language": "pt_BR", "variables": {"1": "Ada"}}
    media = {"url": f"{media_server}/receipt.pdf", "content_type": "application/pdf"}
    bodies = [
        {"target": "alpha", "to": TO, "template": template},
        {"target": "alpha", "to": TO, "media": media, "text": "your receipt"},
    ]
    for body in bodies:
        answer = await api.client.post("/v1/messages", json=body, headers=api.admin)
        assert answer.status_code == 202, answer.text
    first, second = outbound.received(queue)
    assert first.template is not None
    assert first.text is None
    assert first.template.model_dump() == template
    assert second.media is not None
    assert (second.media.url, second.media.content_type, second.text) == (
        media["url"],
        "application/pdf",
        "your receipt",
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"to": TO}, "text", "give text, template or media"),
        ({"to": TO, "text": "x", "template": {"name": "t"}}, "template", "carries no text"),
        (
            {"to": TO, "media": {"url": "https://x.example/a.gif", "content_type": "image/gif"}},
            "media",
            "content_type 'image/gif' is not one WhatsApp takes",
        ),
        (
            {"to": TO, "media": {"url": "ftp://x.example/a.png", "content_type": "image/png"}},
            "media.url",
            "String should match pattern",
        ),
        ({"to": TO, "template": {"name": "bad name"}}, "template.name", "String should match"),
    ],
)
async def test_content_that_is_not_one_message_is_422_naming_the_field(
    api: Api, objects: Objects, body: dict[str, object], field: str, message: str
) -> None:
    objects.pool("alpha-pool", "alpha")
    answer = await api.client.post(
        "/v1/messages", json={"target": "alpha", **body}, headers=api.admin
    )
    assert answer.status_code == 422, answer.text
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert message in errors.get(field, ""), errors


@pytest.mark.parametrize(
    ("name", "content_type", "problem"),
    [
        ("big.png", "image/png", "the media is 6.0 MB; WhatsApp takes at most 5.0 MB of image/png"),
        ("photo.jpg", "image/png", "the media is served as image/jpeg, not image/png"),
        ("gone.png", "image/png", "the media answered HTTP 404"),
    ],
)
async def test_media_the_url_does_not_hold_is_422_naming_the_url_and_nothing_is_published(
    api: Api,
    objects: Objects,
    outbound: Outbound,
    media_server: str,
    name: str,
    content_type: str,
    problem: str,
) -> None:
    queue = objects.pool("alpha-pool", "alpha")
    assert queue is not None
    media = {"url": f"{media_server}/{name}", "content_type": content_type}
    answer = await api.client.post(
        "/v1/messages",
        json={"target": "alpha", "to": TO, "media": media},
        headers={**api.admin, "Idempotency-Key": f"media-{name}"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [{"field": "media.url", "in": "body", "message": problem}]
    assert outbound.received(queue) == []
    # nothing recorded either: the same key with a good file is a new message
    media["url"] = f"{media_server}/receipt.pdf"
    media["content_type"] = "application/pdf"
    again = await api.client.post(
        "/v1/messages",
        json={"target": "alpha", "to": TO, "media": media},
        headers={**api.admin, "Idempotency-Key": f"media-{name}"},
    )
    assert again.status_code == 202, again.text


async def test_a_session_takes_media_but_no_template_so_a_template_to_an_account_is_422(
    api: Api, objects: Objects, outbound: Outbound, media_server: str
) -> None:
    queue = alices_session(objects)
    template = {"name": "order_shipped", "language": "en_US", "variables": {"1": "Ada"}}
    answer = await api.client.post(
        "/v1/messages", json={"account": "alice", "to": TO, "template": template}, headers=api.admin
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "template"
    assert "SenderPool alice-session is a session, which sends text and media" in error["message"]
    assert outbound.received(queue) == []
    media = {"url": f"{media_server}/receipt.pdf", "content_type": "application/pdf"}
    sent = await api.client.post(
        "/v1/messages",
        json={"account": "alice", "to": TO, "text": "your receipt", "media": media},
        headers=api.admin,
    )
    assert sent.status_code == 202, sent.text
    (published,) = outbound.received(queue)
    assert (published.media.url, published.text) == (media["url"], "your receipt")
