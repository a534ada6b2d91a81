"""The `session` vendor: an outbound message leaves through the account's engine.

The sender loop is the one every pool uses (ledger claim, pool-wide rate,
settle table); only the vendor differs. What an engine error means for the
ledger is one pure table, `result_for_error`, following the engine contract
(`engines/base.py`): `NotReady` and retryable rejections were definitely not
sent, `SendInterrupted` may have left (the claim is kept, never sent again on
a guess), a restricted account (463, 475) pauses the whole pool.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from session_runner.sender.message import OutboundMessage
from session_runner.sender.vendors.base import (
    CANNOT_TELL,
    Lookup,
    LookupResult,
    Outcome,
    SendResult,
    short_detail,
)
from session_runner.session.engines.base import (
    Engine,
    NotReady,
    SendInterrupted,
    SendRejected,
)
from session_runner.session.outbound.media_fetch import (
    MEDIA_UNAVAILABLE,
    MediaFetcher,
    MediaFetchError,
)

VENDOR: Final = "session"
#: WhatsApp's answers for an account that may not send now (throttled, restricted): every
#: message would get the same answer, so the pool pauses rather than burning receives.
ACCOUNT_LIMITED_CODES: Final = frozenset({463, 475})
#: How long a pool waits after an account-level refusal before trying again.
ACCOUNT_LIMITED_PAUSE_S: Final = 60.0
#: How many sent messages' ids are remembered to name acks with our id (acks come within
#: minutes; an ack older than this many sends still becomes an event, without our id).
MAX_REMEMBERED: Final = 10_000


def result_for_error(error: Exception) -> SendResult:
    """What one engine error means for the message. Pure."""
    if isinstance(error, SendInterrupted):
        return SendResult(Outcome.UNKNOWN, detail=short_detail(f"interrupted: {error}"))
    if isinstance(error, NotReady):  # EngineStopped too: not sent, the next leader sends it
        return SendResult(Outcome.RETRY, detail=short_detail(f"account not ready: {error}"))
    if isinstance(error, SendRejected):
        code = str(error.code)
        detail = short_detail(str(error))
        if error.code in ACCOUNT_LIMITED_CODES:
            return SendResult(
                Outcome.THROTTLE, code=code, detail=detail, retry_after_s=ACCOUNT_LIMITED_PAUSE_S
            )
        outcome = Outcome.RETRY if error.retryable else Outcome.PERMANENT
        return SendResult(outcome, code=code, detail=detail)
    if isinstance(error, ValueError):  # the recipient is not a number or JID
        return SendResult(
            Outcome.PERMANENT, code="invalid-recipient", detail=short_detail(str(error))
        )
    return SendResult(Outcome.UNKNOWN, detail=f"engine error: {type(error).__name__}")


class SessionAdapter:
    """A `VendorAdapter` over whichever engine the runner holds now.

    `engine()` returns the engine, or None once the runner let it go: the
    adapter never keeps an engine the runner killed. A media message's file is
    downloaded by `media` (`media_fetch`) and sent from the pod.
    """

    name = VENDOR

    def __init__(
        self, engine: Callable[[], Engine | None], media: MediaFetcher | None = None
    ) -> None:
        self._engine = engine
        self._media = media or MediaFetcher()
        #: WhatsApp's id → ours, for the messages sent here: acks carry only WhatsApp's.
        self._ours: OrderedDict[str, str] = OrderedDict()

    def our_id(self, whatsapp_id: str) -> str | None:
        """Our id of a message this adapter sent, if it is among the last MAX_REMEMBERED."""
        return self._ours.get(whatsapp_id)

    def _remember(self, whatsapp_id: str, ours: str) -> None:
        self._ours[whatsapp_id] = ours
        while len(self._ours) > MAX_REMEMBERED:
            self._ours.popitem(last=False)

    async def send(self, message: OutboundMessage, *, sender: str | None) -> SendResult:
        if message.template is not None:
            # Templates are the Business API's; WhatsApp Web and the protocol have none.
            return SendResult(
                Outcome.PERMANENT,
                code="unsupported-content",
                detail="a session sends text and media, not templates",
            )
        engine = self._engine()
        if engine is None or not engine.ready:
            return SendResult(Outcome.RETRY, detail="account not connected")
        try:
            # Our id is the engine's idempotency key: a retry within the engine's life
            # returns the first send's id instead of sending again.
            if message.media is not None:
                vendor_id = await self._send_media(engine, message)
            else:
                text = message.plain_text or ""
                vendor_id = await engine.send_text(message.to, text, idempotency_key=message.id)
        except MediaFetchError as error:
            refusal = error.refusal
            return SendResult(
                refusal.outcome,
                code=MEDIA_UNAVAILABLE,
                detail=short_detail(f"media.url {refusal.reason}"),
            )
        except Exception as error:
            return result_for_error(error)
        self._remember(vendor_id, message.id)
        return SendResult(Outcome.SENT, vendor_message_id=vendor_id)

    async def _send_media(self, engine: Engine, message: OutboundMessage) -> str:
        """Download the file (unless this engine sent the message already), send, delete."""
        assert message.media is not None
        already = engine.sent_under(message.id)
        if already is not None:
            return already
        ref = await self._media.fetch(message.media)
        try:
            return await engine.send_media(
                message.to, ref, message.text, idempotency_key=message.id
            )
        finally:
            await asyncio.to_thread(ref.path.unlink, missing_ok=True)

    async def lookup(self, message: OutboundMessage, *, sender: str | None) -> LookupResult:
        """Whether this engine sent the message (its own sends, by our id). WhatsApp cannot be
        asked what an earlier engine or runner sent: then the answer is CANNOT_TELL, and the
        message is recorded FAILED "outcome unknown", never sent again on a guess."""
        engine = self._engine()
        vendor_id = engine.sent_under(message.id) if engine is not None else None
        if vendor_id is None:
            return CANNOT_TELL
        return LookupResult(Lookup.FOUND, vendor_id)

    async def close(self) -> None:
        """The engine is the runner's: nothing to close here."""
