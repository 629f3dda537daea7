"""The emulator's own reading of the API contract: fields, regexes, defaults, what POST takes, paging,
permissions.

Written from the contract's text, never imported from the product (``reconciler.model`` and
friends): a mistake in the product's tables must not be mirrored here, or no end-to-end test could
see it. The regexes are the seed's, spelled exactly as the contract's field table writes them.
``tests/test_emulator_contract.py`` compares these tables with the product's and with a copy of
the contract's field table (``tests/data/contract-fields.md``), so changing one side alone fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Field:
    """One row of the contract's field table."""

    name: str
    kind: str  # "text" | "boolean" | "secret"
    regex: str | None  # None: any string (the secret) or a boolean
    default: Any  # None: required on create
    on_post: bool  # POST takes it; the others are PUT-only, ignored on POST without a word


CHANNEL_FIELDS: tuple[Field, ...] = (
    Field("name", "text", r"^[a-zA-Z0-9 \.\-\_]+$", None, True),
    Field("icon", "text", r"^[a-zA-Z0-9\-\_]+$", "chat", True),
    Field("custom_channel_endpoint", "text", r"^[a-zA-Z0-9\.\:\/\-?&=]+$", "", True),
    Field("custom_channel_secret", "secret", None, "", True),
    Field("custom_channel_warning_en", "text", r"^[0-9a-zA-Z\-\_\:\;\>\+\(\)\/\!\?\,\.\#\@\$\*\&À-ȕ\' ]+$", "", False),
    Field("custom_channel_warning_nl", "text", r"^[0-9a-zA-Z\-\_\:\;\>\+\(\)\/\!\?\,\.\#\@\$\*\&À-ȕ\' ]+$", "", False),
    Field("include_signature", "boolean", None, False, True),
    Field("custom_channel_available_in_quick_ticket", "boolean", None, False, False),
)
FIELDS_BY_NAME = {f.name: f for f in CHANNEL_FIELDS}
SECRET = "custom_channel_secret"  # write-only: never in an answer
CUSTOM = "custom"  # the type of a custom channel; built-in channels have their own
DIGITS = r"^[0-9]+$"  # ticketID, channelID, userID of an inbound message

API_PREFIX = "/api/v2/channel"
MESSAGE_PATH = API_PREFIX + "/customChannelMessage"
DEFAULT_ITEM_LIMIT = 15
MAX_ITEM_LIMIT = 99

# The permission each kind of call needs (reading ONE item needs the write permission, sic).
PERMISSION = {
    "list": "CHANNEL_READ",
    "get": "CHANNEL_CUD",
    "create": "CHANNEL_CUD",
    "update": "CHANNEL_CUD",
    "delete": "CHANNEL_CUD",
    "message": "MESSAGE_CREATE",
}
ALL_PERMISSIONS = ("CHANNEL_READ", "CHANNEL_CUD", "MESSAGE_CREATE")


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def matches(regex: str, value: str) -> bool:
    """Whether the whole value matches; ``fullmatch`` so that a final newline never slips past ``$``."""
    return _compiled(regex).fullmatch(value) is not None


def mismatch(regex: str, value: str) -> str:
    """Why ``value`` fails ``regex`` (one of ``^[...]+$``), naming the characters it refuses."""
    if value == "":
        return "must not be empty"
    char_class = _compiled(regex[1:-2])  # ^[...]+$ -> [...]
    refused = list(dict.fromkeys(ch for ch in value if not char_class.fullmatch(ch)))
    shown = ", ".join(f"{_CHAR_NAMES.get(ch, repr(ch))} is not allowed" for ch in refused)
    return f"does not match {regex}: {shown}" if shown else f"does not match {regex}"


_CHAR_NAMES = {"\n": "a line break", "\t": "a tab", "\r": "a carriage return", " ": "a space"}


def to_bool(value: Any) -> bool:
    """A written boolean: true/false, "true"/"false", 1/0 or "1"/"0" (any case, outer spaces ignored)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"not a boolean: {value!r}")
