"""What the operator, the producers and the senders agree on about outbound routing.

The operator subscribes each SenderPool's queue to the outbound topic with a
filter on this message attribute; producers set it to the pool's
`spec.target`; the sender reads the messages its queue receives.
"""

from __future__ import annotations

from typing import Final

#: The SNS message attribute each pool's subscription filters on.
TARGET_ATTRIBUTE: Final = "target"
#: What a routing target (SenderPool spec.target) may look like.
TARGET_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"

#: The keys each vendor's credentials Secret must hold (the sender reads them as files
#: of the mounted Secret; the operator checks they exist, never reads their values).
VENDOR_CREDENTIAL_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "meta-cloud": ("accessToken", "phoneNumberId"),
    "twilio": ("accountSid", "authToken"),
    "session": (),
}


def limiter_key(namespace: str, pool: str) -> str:
    """Which rate-limiter item a pool's senders share (and the operator reads for `Throttled`)."""
    return f"{namespace}/{pool}"
