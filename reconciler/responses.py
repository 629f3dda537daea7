"""The contract's envelopes: decoding an answer's bytes, mapping error statuses to errors, redaction.

Pure functions over what came back (status, headers, body bytes): no I/O here. Everything that
can end up in a message goes through a ``Redactor`` first, so no key or secret leaves this module.

An answer is validated before anything uses it: its JSON is neither too deep nor made of more
values than a channel list can hold (``check_shape``, before it is parsed), every id is a positive
integer of sane size (``positive_id``), and every string a channel carries is ``printable``: a
server's text never reaches an output as line breaks or terminal escapes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import (
    ApiError,
    AuthenticationError,
    FieldRejected,
    NotFound,
    PermissionDenied,
    ProtocolError,
    UnexpectedStatus,
)
from .model import CHANNEL_PATH, RemoteChannel
from .printable import VALUE_CHARS, cut, printable

MESSAGE_PATH = f"{CHANNEL_PATH}/customChannelMessage"
EXCERPT_CHARS = 200
REDACTED = "[redacted]"
# Beyond 2**53 a JSON number is not an exact integer to most readers; no tenant has that many channels.
MAX_ID = 2**53 - 1
# JSON containers ({ and [) and values (commas) one answer may hold. A channel is one object of about
# ten fields, so the largest list the contract allows (100,000 channels) stays far below; a body of
# 32 MiB of tiny values would take gigabytes once parsed. Counted on the bytes, before parsing.
MAX_CONTAINERS = 250_000
MAX_VALUES = 2_500_000


def required_permission(method: str, path: str) -> str:
    """The contract's permission table: which key permission a call needs."""
    if path.split("?")[0] == MESSAGE_PATH or path.startswith("/api/v2/emulator/"):
        return "MESSAGE_CREATE"
    if method == "GET" and path.split("?")[0] == CHANNEL_PATH:
        return "CHANNEL_READ"
    return "CHANNEL_CUD"  # sic: even reading one channel needs the write permission


class Redactor:
    """Replaces the API key and the given secrets, in every encoding a URL, a form or a server's echo
    may give them: each character as written or percent-encoded (hex digits in either case), a space
    also as ``+``."""

    def __init__(self, *values: str) -> None:
        self._values = frozenset(v for v in values if v)

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        # Built when first used: every create and update gets a redactor with its secret, and
        # most never redact anything (building it was 5% of a create's CPU, #27).
        # Longest first, so a value that contains another is replaced whole.
        alternatives = [_any_encoding(v) for v in sorted(self._values, key=len, reverse=True)]
        return re.compile("|".join(alternatives)) if alternatives else None

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        extra = {s for s in secrets if s}
        return self if extra <= self._values else Redactor(*self._values, *extra)

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def excerpt(self, text: str) -> str:
        """A short, quoted, redacted piece of an answer for a message; redacted before it is cut."""
        text = self(text)
        return repr(text[:EXCERPT_CHARS] + "…" if len(text) > EXCERPT_CHARS else text)


def _any_encoding(value: str) -> str:
    """A regex for ``value`` with any of its characters percent-encoded (``%2f`` or ``%2F``)."""
    parts = []
    for char in value:
        encoded = "".join(f"%{byte:02x}" for byte in char.encode("utf-8"))
        forms = [re.escape(char), f"(?i:{re.escape(encoded)})"] + ([r"\+"] if char == " " else [])
        parts.append(f"(?:{'|'.join(forms)})")
    return "".join(parts)


@dataclass(frozen=True)
class ListPage:
    """One page of the channel list as the server sent it; ``total``/``limit`` are None when absent."""

    items: list[Any]
    total: int | None
    limit: int | None


def decode(
    status: int, content_type: str, body: bytes, call: str, expect: tuple[str, ...], redact: Redactor
) -> dict[str, Any]:
    """The envelope of a non-retryable answer, or the error it stands for.

    A list is recognised by its ``items`` whatever its ``type`` says (the docs never show the value).
    """
    check_shape(body, call, status)
    try:
        decoded: Any = json.loads(body) if body else None
    except ValueError:
        decoded = None
    except RecursionError:
        raise ProtocolError(
            "the answer's JSON is nested too deeply to be a channel list or item (a broken or hostile server?)",
            call=call,
            status=status,
        ) from None
    if status >= 400:
        raise status_error(status, decoded, call, redact)
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    if decoded is None:
        if "html" in content_type or text.lstrip().startswith("<"):
            what = f"expected JSON but the answer is HTML ({content_type or 'no content type'})"
        else:
            what = "expected JSON but the answer is not valid JSON (truncated?)"
        raise ProtocolError(f"{what}: {redact.excerpt(text)}", call=call, status=status)
    expected = " or ".join(repr(t) for t in expect)
    if isinstance(decoded, dict) and decoded.get("status") == "error":
        message = cut(redact(str(decoded.get("message", ""))), VALUE_CHARS)
        raise ProtocolError(
            f"expected a {expected} envelope, got an error envelope ({message!r}) with status {status}: "
            f"{redact.excerpt(text)}",
            call=call,
            status=status,
        )
    if not isinstance(decoded, dict) or not _envelope_complete(decoded, expect):
        raise ProtocolError(f"expected a {expected} envelope, got: {redact.excerpt(text)}", call=call, status=status)
    return decoded


def check_shape(body: bytes, call: str, status: int) -> None:
    """Refuse, before parsing, an answer with more JSON containers or values than any channel list."""
    containers = body.count(b"{") + body.count(b"[")
    values = body.count(b",")
    if containers > MAX_CONTAINERS or values > MAX_VALUES:
        raise ProtocolError(
            f"the answer holds {containers:,} JSON objects and lists and {values:,} commas, more than any "
            f"channel list ({MAX_CONTAINERS:,} and {MAX_VALUES:,} at most); it was not parsed "
            "(a broken or hostile server?)",
            call=call,
            status=status,
        )


def _envelope_complete(body: Mapping[str, Any], expect: tuple[str, ...]) -> bool:
    """Whether an envelope is one of ``expect`` and carries what that type promises."""
    if "list" in expect:
        return isinstance(body.get("items"), list)
    if body.get("type") not in expect:
        return False
    if body["type"] == "item":
        return isinstance(body.get("item"), Mapping)
    return True


def list_page(body: Mapping[str, Any], call: str) -> ListPage:
    """The paging numbers of a list envelope, tolerating a missing or unusable ``itemTotal``."""
    return ListPage(body["items"], _count(body.get("itemTotal")), _count(body.get("itemLimit")))


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def status_error(status: int, body: Any, call: str, redact: Redactor) -> ApiError:
    """The error an HTTP error status stands for, with the server's message (redacted)."""
    message = ""
    if isinstance(body, dict) and body.get("message") is not None:
        message = printable(redact(str(body["message"])), VALUE_CHARS)
    said = f" (the server said: {message})" if message else ""
    method, _, path = call.partition(" ")
    if status == 401:
        return AuthenticationError(f"the API key was refused{said}", call=call, status=status)
    if status == 403:
        permission = required_permission(method, path)
        return PermissionDenied(
            f"the API key lacks the {permission} permission needed for {call}{said}",
            call=call,
            status=status,
            permission=permission,
        )
    if status == 400:
        field = body.get("field") if isinstance(body, dict) else None
        field = printable(redact(str(field)), VALUE_CHARS) if field is not None else None
        what = f"the server refused field {field!r}" if field else "the server refused the request"
        return FieldRejected(f"{what}: {message or 'no reason given'}", call=call, status=status, field=field)
    if status == 404:
        return NotFound(f"not found{said}", call=call, status=status)
    return UnexpectedStatus(f"the server answered {status}{said}", call=call, status=status)


def parse_channel(item: Any, call: str, redact: Redactor, where: str = "item") -> RemoteChannel:
    """One channel of an answer (``where`` names it: ``item``, ``items[3]``), its id checked and
    its strings made printable."""
    if not isinstance(item, Mapping) or "id" not in item:
        raise ProtocolError(f"expected a channel at {where}, got: {redact.excerpt(json.dumps(item))}", call=call)
    positive_id(item["id"], call, f"{where}.id", redact)
    shown = {key: printable(value) if isinstance(value, str) else value for key, value in item.items()}
    try:
        return RemoteChannel.from_api(shown)
    except (KeyError, TypeError, ValueError):
        got = redact.excerpt(json.dumps(item))
        raise ProtocolError(f"expected a channel at {where}, got: {got}", call=call) from None


def positive_id(value: Any, call: str, field: str, redact: Redactor) -> int:
    """``value`` if it is a JSON integer from 1 to ``MAX_ID``; else the answer is refused, naming
    the call and the field (``true``, ``6.5``, ``"7"`` or ``1e308`` is no id to plan against)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    raise ProtocolError(
        f"the answer's {field} is {_json(value, redact)}, not a positive integer id up to {MAX_ID:,} "
        "(a broken or hostile server?); nothing was planned against it",
        call=call,
    )


def _json(value: Any, redact: Redactor) -> str:
    """``value`` as JSON, short and printable; a huge integer by its size (its digits may be too many to write)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length():,} bits"
    return printable(redact(json.dumps(value, ensure_ascii=False)), 60)
