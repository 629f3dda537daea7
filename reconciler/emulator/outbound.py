"""Agent replies delivered to a channel's endpoint, as Omnidesk is ASSUMED to deliver them.

Omnidesk does not document the body or the signature of the POST it sends to a custom channel's
``custom_channel_endpoint``. Its general webhooks follow Standard Webhooks, and this emulator
assumes the same for custom channels (the scheme is switchable: ``scheme="none"`` sends no
signature headers at all):

* the body is JSON (``BODY_FIELDS`` below, names assumed);
* ``webhook-id`` (one per message, the same on every retry and replay), ``webhook-timestamp``
  (Unix seconds of the attempt) and, with ``include_signature``, ``webhook-signature: v1,<base64>``:
  HMAC-SHA256 over ``{id}.{timestamp}.{body}`` keyed with the UTF-8 bytes of the channel's secret,
  or for a secret written ``whsec_<base64>`` the decoded bytes (as the Standard Webhooks libraries do);
* an ``OPTIONS`` probe first, which must answer 2xx with ``Allow`` naming ``POST``;
* each attempt must be answered within ``timeout`` (1 s) with a 2xx; a failed delivery is retried
  ``retries`` (5) times, the n-th after ``base * 2**(n-1)`` seconds with +-20% jitter.

Deliveries go only to loopback addresses unless ``deliver_remote`` is set (a sandbox must not
reach out by surprise), over ``https://`` or, on loopback only, plain ``http://``. Every delivery
and every attempt is kept (status, latency, error, the headers sent) and can be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import queue
import random
import secrets as random_secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

ASSUMED = (
    "assumed: Omnidesk does not document what it POSTs to a custom channel's endpoint; "
    "this emulator sends Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature v1)"
)
BODY_FIELDS = ("type", "channelID", "ticketID", "messageID", "message", "sender", "toAddress", "createdAt")
SCHEMES = ("standard-webhooks", "none")
FAULTS = ("duplicate", "clock-skew", "two-signatures")
SKEW_SECONDS = 600  # the clock-skew fault: past the +-5 minutes Standard Webhooks verifiers accept
SECRET_PREFIX = "whsec_"

PENDING, DELIVERED, FAILED, NOT_SENT = "pending", "delivered", "failed", "not sent"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a channel secret: ``whsec_<base64>`` decoded, anything else as UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :] + "==", validate=False)
        except ValueError:
            pass
    return secret.encode("utf-8")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def new_forward_secret() -> str:
    """A signing secret for ``--forward-to`` (printed for the bridge, like ``stripe listen``)."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(24)).decode("ascii")


def is_loopback_host(host: str) -> bool:
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Attempt:
    number: int
    started: float
    status: int | None = None
    latency_ms: float = 0.0
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started": iso_time(self.started),
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "error": self.error,
            "headers": dict(self.headers),
        }


@dataclass
class Delivery:
    id: int
    webhook_id: str
    channel_id: int
    ticket_id: int
    message_id: int
    url: str
    body: bytes
    signed: bool
    state: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)
    schedule: list[float] = field(default_factory=list)  # the planned wait before each retry, seconds
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "channelID": self.channel_id,
            "ticketID": self.ticket_id,
            "messageID": self.message_id,
            "url": self.url,
            "signed": self.signed,
            "state": self.state,
            "body": self.body.decode("utf-8"),
            "schedule": [round(s, 3) for s in self.schedule],
            "attempts": [a.to_data() for a in self.attempts],
            "scheme": ASSUMED,
        }


@dataclass(frozen=True)
class OutboundSettings:
    """How replies are delivered; the defaults are Omnidesk's documented webhook behaviour."""

    scheme: str = "standard-webhooks"
    timeout: float = 1.0
    retries: int = 5
    backoff_base: float = 1.0  # seconds; tests shrink it
    forward_to: str | None = None
    forward_secret: str | None = None
    deliver_remote: bool = False
    delay_ms: float = 0.0  # the "slow" fault: each attempt starts this late
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown delivery scheme {self.scheme!r}; known: {', '.join(SCHEMES)}")
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown delivery fault(s) {sorted(unknown)}; known: {', '.join(FAULTS)}")


class Outbox:
    """Delivers queued replies on one worker thread; ``deliveries`` is the log, oldest first."""

    def __init__(
        self,
        settings: OutboundSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.settings = settings or OutboundSettings()
        self.clock = clock
        self.deliveries: dict[int, Delivery] = {}
        self._secrets: dict[int, str] = {}  # delivery id -> the secret it is signed with (never logged)
        self._last_secret: dict[int, str] = {}  # channel id -> the secret its last delivery was signed with
        self._probed: set[str] = set()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    # -- what the emulator calls -------------------------------------------------------------------

    def enqueue(self, channel: Mapping[str, Any], ticket: Mapping[str, Any], message: Mapping[str, Any]) -> Delivery:
        """Queue the delivery of one agent reply; returns its log entry at once."""
        body = json.dumps(_body(channel, ticket, message), separators=(",", ":"), ensure_ascii=False).encode()
        url = self.settings.forward_to or str(channel.get("custom_channel_endpoint") or "")
        secret = self._secret_for(channel)
        with self._lock:
            delivery = Delivery(
                len(self.deliveries) + 1,
                "msg_" + random_secrets.token_hex(12),
                int(channel["id"]),
                int(ticket["ticketID"]),
                int(message["messageID"]),
                url,
                body,
                signed=bool(secret) and self.settings.scheme != "none",
            )
            self.deliveries[delivery.id] = delivery
            self._secrets[delivery.id] = secret
        refusal = self._refusal(url)
        if refusal:
            delivery.state = NOT_SENT
            delivery.attempts.append(Attempt(0, self.clock(), error=refusal))
            delivery.done.set()
            return delivery
        self._start()
        self._queue.put(delivery)
        return delivery

    def redeliver(self, delivery_id: int) -> Delivery:
        """Send a logged delivery again (same webhook-id and body): a bridge must treat it as a duplicate."""
        with self._lock:
            delivery = self.deliveries[delivery_id]
        refusal = self._refusal(delivery.url)
        if refusal:
            delivery.attempts.append(Attempt(len(delivery.attempts) + 1, self.clock(), error=refusal))
            return delivery
        delivery.state = PENDING
        delivery.done.clear()
        self._start()
        self._queue.put(delivery)
        return delivery

    def get(self, delivery_id: int) -> Delivery | None:
        with self._lock:
            return self.deliveries.get(delivery_id)

    def all(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries.values())

    def close(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    # -- delivering --------------------------------------------------------------------------------

    def _secret_for(self, channel: Mapping[str, Any]) -> str:
        if self.settings.scheme == "none":
            return ""
        if self.settings.forward_to:
            return self.settings.forward_secret or ""
        if str(channel.get("include_signature")).lower() not in ("true", "1"):
            return ""
        return str(channel.get("custom_channel_secret") or "")

    def _refusal(self, url: str) -> str:
        if not url:
            return "the channel has no custom_channel_endpoint: nothing to deliver to"
        parts = urlsplit(url)
        host = parts.hostname or ""
        loopback = is_loopback_host(host)
        if parts.scheme not in ("http", "https") or (parts.scheme == "http" and not loopback):
            return f"{url} is not an https:// URL (Omnidesk delivers over HTTPS; plain http only to loopback)"
        if not loopback and not self.settings.deliver_remote:
            return (
                f"{host} is not on this machine: the emulator delivers only to loopback addresses "
                "(use --forward-to URL, or --deliver-remote to reach it)"
            )
        return ""

    def _start(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="emulator-outbox", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.settings.timeout, follow_redirects=False, trust_env=False) as client:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    return
                self._deliver(client, delivery)

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        """One delivery: the probe, then attempts on the retry schedule until a 2xx or the last retry."""
        waits = [
            self.settings.backoff_base * 2**n * self._random.uniform(0.8, 1.2) for n in range(self.settings.retries)
        ]
        delivery.schedule = waits
        for retry in range(self.settings.retries + 1):
            if retry:
                time.sleep(waits[retry - 1])
            if self._attempt(client, delivery):
                delivery.state = DELIVERED
                break
        else:
            delivery.state = FAILED
        delivery.done.set()

    def _attempt(self, client: httpx.Client, delivery: Delivery) -> bool:
        if self.settings.delay_ms:
            time.sleep(self.settings.delay_ms / 1000)
        attempt = Attempt(len(delivery.attempts) + 1, self.clock())
        delivery.attempts.append(attempt)
        started = time.monotonic()
        try:
            if delivery.url not in self._probed:
                self._probe(client, delivery.url)
                self._probed.add(delivery.url)
            attempt.headers = self._headers(delivery)
            sends = 2 if "duplicate" in self.settings.faults else 1
            for _ in range(sends):
                answer = client.post(delivery.url, content=delivery.body, headers=attempt.headers)
            attempt.status = answer.status_code
            if not 200 <= answer.status_code < 300:
                attempt.error = f"answered {answer.status_code}"
        except httpx.TimeoutException:
            attempt.error = f"no answer within {self.settings.timeout:g} s"
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        except _ProbeFailed as exc:
            attempt.error = str(exc)
        attempt.latency_ms = (time.monotonic() - started) * 1000
        return not attempt.error

    def _probe(self, client: httpx.Client, url: str) -> None:
        try:
            answer = client.options(url)
        except httpx.TimeoutException:
            raise _ProbeFailed(f"OPTIONS probe: no answer within {self.settings.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise _ProbeFailed(f"OPTIONS probe: {type(exc).__name__}: {exc}") from None
        allowed = {m.strip().upper() for m in answer.headers.get("allow", "").split(",")}
        if not 200 <= answer.status_code < 300 or "POST" not in allowed:
            raise _ProbeFailed(
                f"OPTIONS probe: answered {answer.status_code} with Allow: "
                f"{answer.headers.get('allow', '(none)')!r}; the endpoint must allow POST"
            )

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        headers = {"content-type": "application/json", "user-agent": "omnidesk-channels-emulator"}
        if self.settings.scheme == "none":
            return headers
        timestamp = int(self.clock()) + (SKEW_SECONDS if "clock-skew" in self.settings.faults else 0)
        headers.update({"webhook-id": delivery.webhook_id, "webhook-timestamp": str(timestamp)})
        secret = self._secrets.get(delivery.id, "")
        if secret:
            signatures = [sign(secret, delivery.webhook_id, timestamp, delivery.body)]
            previous = self._last_secret.get(delivery.channel_id)
            if "two-signatures" in self.settings.faults and previous and previous != secret:
                signatures.append(sign(previous, delivery.webhook_id, timestamp, delivery.body))
            self._last_secret[delivery.channel_id] = secret
            headers["webhook-signature"] = " ".join(signatures)
        return headers


class _ProbeFailed(Exception):
    pass


def _body(channel: Mapping[str, Any], ticket: Mapping[str, Any], message: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "message.created",
        "channelID": int(channel["id"]),
        "ticketID": int(ticket["ticketID"]),
        "messageID": int(message["messageID"]),
        "message": message["message"],
        "sender": message.get("sender", {}),
        "toAddress": message.get("toAddress", ""),
        "createdAt": message.get("createdAt", ""),
    }


def iso_time(seconds: float) -> str:
    """UTC, to the millisecond: ``2026-12-03T09:28:22.123Z``."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
