"""Pure: Kubernetes quantities ("500m", "1Gi", "1e9", 2) as exact numbers, to compare them.

The Python twin of the CEL quantity library the API server uses for the
"request must not exceed its limit" rule: the operator and the CLI must refuse
the same objects without a cluster. Values are ``Decimal``s under a context wide
enough that no arithmetic here rounds (a quantity string is at most
``QUANTITY_MAX_LENGTH`` characters), rounded up to nano units as the API server's
``resource.Quantity`` does.
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MIN_EMIN, ROUND_CEILING, Context, Decimal, InvalidOperation

#: Quantities longer than this are refused by the schema (and keep CEL's cost bounded).
QUANTITY_MAX_LENGTH = 64

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY = re.compile(
    rf"^(?P<number>{_NUMBER})"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|[eE](?P<exponent>[+-]?[0-9]+)|(?P<decimal>[numkMGTPE]))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
#: Exact for any number of QUANTITY_MAX_LENGTH digits times 2**60.
_EXACT = Context(prec=200, Emax=MAX_EMAX, Emin=MIN_EMIN)
_NANO = Decimal("1e-9")
#: resource.Quantity reads an exponent into an int32.
_MAX_EXPONENT = 2**31 - 1


def parse_quantity(value: int | str) -> Decimal | None:
    """The value of a quantity, or None when the API server would not parse it either."""
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY.match(value)
    if match is None:
        return None
    number = Decimal(match["number"])
    if match["exponent"] is not None and abs(int(match["exponent"])) > _MAX_EXPONENT:
        return None
    try:
        if match["binary"]:
            amount = _EXACT.multiply(number, Decimal(_BINARY[match["binary"]]))
        elif match["exponent"] is not None:
            amount = _EXACT.scaleb(number, Decimal(int(match["exponent"])))
        elif match["decimal"]:
            amount = _EXACT.scaleb(number, Decimal(_DECIMAL[match["decimal"]]))
        else:
            amount = number
    except InvalidOperation:
        return None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        amount = amount.quantize(_NANO, rounding=ROUND_CEILING, context=_EXACT)
    return amount


def exceeds(request: int | str | None, limit: int | str | None) -> bool:
    """Whether a request is above its limit (False when either is unset or unparsable:
    the schema's pattern reports those)."""
    if request is None or limit is None:
        return False
    low, high = parse_quantity(request), parse_quantity(limit)
    return low is not None and high is not None and low > high
