"""The inbound message call (``POST /api/v2/channel/customChannelMessage``): a customer's message
into a custom channel, on a new ticket or an existing one of that channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.emulator.contract import CUSTOM, DIGITS, matches, mismatch
from reconciler.emulator.routes import Refusal, Response, json_answer, number, text_field
from reconciler.emulator.store import Store


def post_message(store: Store, raw: Mapping[str, Any]) -> Response:
    """Validate the form as the contract does, then keep the message on its ticket."""
    channel = _channel(store, raw)
    ticket = _ticket(store, raw, channel)
    user_text = text_field(raw, "userID", "0")
    if not matches(DIGITS, user_text):
        raise Refusal(400, f"userID {mismatch(DIGITS, user_text)}", field="userID")
    user_id = number(user_text, "userID")
    message_text = text_field(raw, "message", "")
    if not message_text:
        raise Refusal(400, "message is required and must not be empty", field="message")
    extra = {name: text_field(raw, name, "") for name in ("title", "toAddress", "fromAddress")}
    if ticket is None:
        ticket = {"ticketID": store.new_ticket_id(), "channelID": channel["id"], "title": extra["title"]}
    message = {
        "messageID": store.new_message_id(),
        "message": message_text,
        "userID": user_id,
        "fromAddress": extra["fromAddress"],
        "toAddress": extra["toAddress"],
    }
    store.add_message(ticket, message)
    item = {"ticketID": ticket["ticketID"], "messageID": message["messageID"]}
    return json_answer(200, {"type": "item", "item": item})


def _channel(store: Store, raw: Mapping[str, Any]) -> dict[str, Any]:
    channel_text = text_field(raw, "channelID", None)
    if not channel_text:
        raise Refusal(400, "channelID is required", field="channelID")
    if not matches(DIGITS, channel_text):
        raise Refusal(400, f"channelID {mismatch(DIGITS, channel_text)}", field="channelID")
    channel = store.channels.get(number(channel_text, "channelID"))
    if channel is None or channel["type"] != CUSTOM:
        raise Refusal(400, f"channelID {channel_text} is not a custom channel", field="channelID")
    return channel


def _ticket(store: Store, raw: Mapping[str, Any], channel: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ticket the message continues, or None for a new one."""
    ticket_text = text_field(raw, "ticketID", "")
    if not ticket_text:
        return None
    if not matches(DIGITS, ticket_text):
        raise Refusal(400, f"ticketID {mismatch(DIGITS, ticket_text)}", field="ticketID")
    ticket = store.tickets.get(number(ticket_text, "ticketID"))
    if ticket is None:
        raise Refusal(400, f"ticketID {ticket_text} does not exist", field="ticketID")
    if ticket["channelID"] != channel["id"]:
        raise Refusal(400, f"ticketID {ticket_text} belongs to another channel", field="ticketID")
    return ticket
