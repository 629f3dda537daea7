"""Messages through the API: an inbound message pushed into a custom channel (the one it goes into,
or an error naming what exists), and the emulator sandbox's agent replies and redeliveries.

``Messages`` is part of ``Workflow`` (it inherits it): the methods live here so that the workflow's
module stays about planning and applying.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from reconciler.errors import SendRefused
from reconciler.model import RemoteChannel
from reconciler.results import Sent

if TYPE_CHECKING:
    from reconciler.client import OmnideskClient
    from reconciler.target import Target

# A delivery with every retry (5, waits doubling from 1 s, each attempt up to 1 s) takes under a
# minute: how long a reply waits for its outcome.
DELIVERY_WAIT = 90.0


class Messages:
    """Push messages and the sandbox's replies; ``Workflow`` supplies the client (``_client``)."""

    _client: Callable[[Target], AbstractContextManager[OmnideskClient]]

    def send_message(self, target: Target, channel_name: str, message: str, **fields: Any) -> Sent:
        """Push an inbound message into the custom channel named ``channel_name`` (smoke tests).

        ``fields``: ``ticket_id``, ``title``, ``to_address``, ``from_address``, ``user_id``.
        """
        with self._client(target) as client:
            channel = find_channel(client.list_channels(), channel_name, target.label)
            ids = client.send_message(channel.id, message, **fields)
        return Sent(channel, ids["ticketID"], ids["messageID"])

    # -- the emulator's sandbox: agent replies delivered to a bridge -------------------------------

    def reply_as_agent(
        self, target: Target, ticket_id: int, message: str, *, agent: str = "Agent", wait: float = DELIVERY_WAIT
    ) -> dict[str, Any]:
        """An agent's reply on ``ticket_id``, delivered by the emulator to the channel's endpoint; returns
        the delivery once it is done (delivered, failed after its retries) or ``wait`` seconds passed."""
        with self._client(target) as client:
            delivery = client.sandbox_reply(ticket_id, message, agent=agent)
            return self._settled(client, delivery, wait)

    def redeliver(self, target: Target, delivery_id: int, *, wait: float = DELIVERY_WAIT) -> dict[str, Any]:
        """Send a logged delivery again, with its webhook-id; returns it once done or ``wait`` passed."""
        with self._client(target) as client:
            return self._settled(client, client.sandbox_redeliver(delivery_id), wait)

    @staticmethod
    def _settled(client: OmnideskClient, delivery: dict[str, Any], wait: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while delivery.get("state") == "pending" and time.monotonic() < deadline:
            delivery = client.sandbox_delivery(int(delivery["id"]), wait=min(10.0, deadline - time.monotonic()))
        return delivery


SHOWN_NAMES = 20  # a tenant may have hundreds of channels; an error message should stay readable


def find_channel(channels: list[RemoteChannel], name: str, label: str) -> RemoteChannel:
    """The one custom channel called ``name``; errors name what exists instead (names only)."""
    custom = sorted((c for c in channels if c.is_custom), key=lambda c: c.name)
    found = [c for c in custom if c.name == name]
    if len(found) == 1:
        return found[0]
    if found:
        ids = ", ".join(str(c.id) for c in found)
        raise SendRefused(f"{label} has {len(found)} custom channels named {name!r} (ids {ids}); nothing was sent")
    builtin = next((c for c in channels if not c.is_custom and c.name == name), None)
    if builtin is not None:
        raise SendRefused(
            f"{name!r} is a built-in channel (type {builtin.type}) on {label}: messages can only be "
            "pushed into custom channels; nothing was sent"
        )
    import difflib  # only on this error path: a plan never needs it

    names = [c.name for c in custom]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if not names:
        known = "it has no custom channels"
    else:
        more = f", and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
        known = "its custom channels: " + ", ".join(repr(n) for n in names[:SHOWN_NAMES]) + more
    raise SendRefused(f"no custom channel named {name!r} on {label} ({known}); nothing was sent.{hint}")
