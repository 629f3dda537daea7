"""The contract's envelopes: decoding an answer's bytes, mapping error statuses to errors, redaction.

Pure functions over what came back (status, headers, body bytes): no I/O here. Everything that
can end up in a message goes through a ``Redactor`` first, so no key or secret leaves this module.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import quote, quote_plus

from .errors import (
    ApiError,
    AuthenticationError,
    FieldRejected,
    NotFound,
    PermissionDenied,
    ProtocolError,
)
from .model import CHANNEL_PATH, RemoteChannel

MESSAGE_PATH = f"{CHANNEL_PATH}/customChannelMessage"
EXCERPT_CHARS = 200
REDACTED = "[redacted]"


def required_permission(method: str, path: str) -> str:
    """The contract's permission table: which key permission a call needs."""
    if path.split("?")[0] == MESSAGE_PATH or path.startswith("/api/v2/emulator/"):
        return "MESSAGE_CREATE"
    if method == "GET" and path.split("?")[0] == CHANNEL_PATH:
        return "CHANNEL_READ"
    return "CHANNEL_CUD"  # sic: even reading one channel needs the write permission


class Redactor:
    """Replaces the API key and the given secrets, as written and as a URL would encode them."""

    def __init__(self, *values: str) -> None:
        forms: set[str] = set()
        for value in values:
            if value:
                forms.update({value, quote(value, safe=""), quote_plus(value, safe="")})
        # Longest first, so a form that contains another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        extra = [s for s in secrets if s]
        if not extra:
            return self
        combined = Redactor(*extra)
        combined._forms = sorted({*self._forms, *combined._forms}, key=len, reverse=True)
        return combined

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, REDACTED)
        return text

    def excerpt(self, text: str) -> str:
        """A short, quoted, redacted piece of an answer for a message; redacted before it is cut."""
        text = self(text)
        return repr(text[:EXCERPT_CHARS] + "…" if len(text) > EXCERPT_CHARS else text)


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
    try:
        decoded: Any = json.loads(body) if body else None
    except ValueError:
        decoded = None
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
        message = redact(str(decoded.get("message", "")))
        raise ProtocolError(
            f"expected a {expected} envelope, got an error envelope ({message!r}) with status {status}: "
            f"{redact.excerpt(text)}",
            call=call,
            status=status,
        )
    if not isinstance(decoded, dict) or not _envelope_complete(decoded, expect):
        raise ProtocolError(f"expected a {expected} envelope, got: {redact.excerpt(text)}", call=call, status=status)
    return decoded


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
        message = redact(str(body["message"]))
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
        field = str(field) if field is not None else None
        what = f"the server refused field {field!r}" if field else "the server refused the request"
        return FieldRejected(f"{what}: {message or 'no reason given'}", call=call, status=status, field=field)
    if status == 404:
        return NotFound(f"not found{said}", call=call, status=status)
    return ApiError(f"the server answered {status}{said}", call=call, status=status)


def parse_channel(item: Any, call: str, redact: Redactor) -> RemoteChannel:
    try:
        if not isinstance(item, Mapping):
            raise TypeError("not an object")
        return RemoteChannel.from_api(item)
    except (KeyError, TypeError, ValueError):
        raise ProtocolError(f"expected a channel, got: {redact.excerpt(json.dumps(item))}", call=call) from None
