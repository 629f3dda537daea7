"""What a request asks for, before the call runs: its route, its numbers, and the error answers.

``route`` names the call (``list``, ``get``, ``create``, ``update``, ``delete``, ``message``) and
the channel id in the path; a wrong path or method is a ``Refusal`` raised only after the key was
checked. Numbers in a path, a query or a form are refused past ``MAX_DIGITS`` before ``int()``
reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, overload

from reconciler.emulator.contract import API_PREFIX, DIGITS, MESSAGE_PATH, matches

# Ids and counts in a path, a query or a form: more digits than any id, refused before int() reads
# them (Python refuses over 4,300 digits, which would be a 500).
MAX_DIGITS = 18

JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}
HTML_HEADERS = {"content-type": "text/html; charset=utf-8"}

Response = tuple[int, dict[str, str], bytes]


class Refusal(Exception):
    """An error answer: status, message and optionally the field it is about."""

    def __init__(
        self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}
        super().__init__(message)

    def response(self) -> Response:
        body: dict[str, Any] = {"status": "error", "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return json_answer(self.status, body, self.headers)


def json_answer(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {**JSON_HEADERS, **(headers or {})}, json.dumps(obj, ensure_ascii=False).encode("utf-8")


def route(method: str, path: str) -> tuple[str | None, int | None, Refusal | None]:
    """(kind, channel id, error) for a request line; the error is raised only after auth."""
    path = path.rstrip("/") or "/"
    if path == API_PREFIX:
        kinds = {"GET": "list", "POST": "create"}
    elif path == MESSAGE_PATH:
        kinds = {"POST": "message"}
    elif path.startswith(API_PREFIX + "/") and re.fullmatch(r"[0-9]+", path[len(API_PREFIX) + 1 :]):
        text = path[len(API_PREFIX) + 1 :]
        if len(text) > MAX_DIGITS:
            return None, None, too_long("the channel id", text)
        channel_id = int(text)
        kinds = {"GET": "get", "PUT": "update", "DELETE": "delete"}
        if method in kinds:
            return kinds[method], channel_id, None
        return None, None, _not_allowed(method, path, kinds)
    else:
        return None, None, Refusal(404, f"no such endpoint: {path}")
    if method in kinds:
        return kinds[method], None, None
    return None, None, _not_allowed(method, path, kinds)


def _not_allowed(method: str, path: str, kinds: Mapping[str, str]) -> Refusal:
    allowed = ", ".join(kinds)
    return Refusal(405, f"{method} is not allowed on {path} (allowed: {allowed})", headers={"allow": allowed})


def count_param(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not matches(DIGITS, text):
        raise Refusal(400, f"{name} must be a non-negative integer, got {text!r}", field=name)
    return number(text, name)


def number(text: str, name: str) -> int:
    """``text`` (digits) as a number, refused before Python's int() would fail on its length."""
    if len(text) > MAX_DIGITS:
        raise too_long(name, text, field=name)
    return int(text)


def too_long(what: str, text: str, field: str | None = None) -> Refusal:
    return Refusal(400, f"{what} has {len(text):,} digits; no number here has more than {MAX_DIGITS}", field=field)


@overload
def text_field(raw: Mapping[str, Any], name: str, default: str) -> str: ...


@overload
def text_field(raw: Mapping[str, Any], name: str, default: None) -> str | None: ...


def text_field(raw: Mapping[str, Any], name: str, default: str | None) -> str | None:
    """A message field as text: JSON numbers are accepted for the id fields."""
    value = raw.get(name, default)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Refusal(400, f"{name} must be a string, got {json.dumps(value)}", field=name)
