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
