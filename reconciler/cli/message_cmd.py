"""``omnidesk-channels message send``: push an inbound message into a custom channel (smoke test)."""
from __future__ import annotations

import difflib
import json

import click

from reconciler.cli import EXIT_OK
from reconciler.cli.common import open_client, resolve_target, target_options
from reconciler.config import load_tenants
from reconciler.errors import ReconcilerError
from reconciler.model import RemoteChannel

SHOWN_NAMES = 20  # a tenant may have hundreds of channels; an error message should stay readable


@click.group("message")
def message_group() -> None:
    """Inbound messages on custom channels (as a bridge would push them).

    \b
    Example:
      omnidesk-channels message send --emulator --channel "SMS gateway" --message "Smoke test"
    """


@message_group.command("send")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="A channels file whose tenants: section defines --tenant.")
@target_options
@click.option("--channel", "channel_name", required=True, metavar="NAME", help="The custom channel's name.")
@click.option("--message", "text", required=True, metavar="TEXT", help="The message text.")
@click.option("--ticket", "ticket_id", type=click.IntRange(min=1), metavar="ID",
              help="Add to this ticket (of the same channel); without it a new ticket is opened.")
@click.option("--title", default="", help="The title of a new ticket.")
@click.option("--from", "from_address", default="", metavar="ADDRESS", help="The sender's address on the medium.")
@click.option("--to", "to_address", default="", metavar="ADDRESS", help="The receiving address on the medium.")
@click.option("--user", "user_id", type=click.IntRange(min=0), metavar="ID", help="The Omnidesk user id (default 0).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints {\"channelID\", \"ticketID\", \"messageID\"} for scripts.")
def send_command(file: str | None, url: str | None, tenant: str | None, emulator_state: str | None, verbose: bool,
                 channel_name: str, text: str, ticket_id: int | None, title: str, from_address: str,
                 to_address: str, user_id: int | None, fmt: str) -> int:
    """Post an inbound message (customChannelMessage) to the custom channel named NAME.

    Finds the channel's id through the list endpoint (CHANNEL_READ), then posts the message
    (MESSAGE_CREATE) and prints the ticket and message ids. Meant for a smoke test after
    apply: the message is not retried after an uncertain failure, so it is never posted twice.

    \b
    Example:
      omnidesk-channels message send --tenant staging --file channels.yaml \\
          --channel "SMS gateway" --message "Smoke test after deploy" --from +31600000000
      omnidesk-channels message send --emulator --channel "SMS gateway" --message hi --ticket 51
    """
    if tenant and not file:
        raise click.UsageError("--tenant needs --file FILE, the channels file that defines the tenant.")
    tenants = load_tenants(file) if file else {}
    target = resolve_target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=tenants)
    with open_client(target, verbose=verbose) as client:
        channel = _find_channel(client.list_channels(), channel_name, target.label)
        ids = client.send_message(channel.id, text, ticket_id=ticket_id, title=title, to_address=to_address,
                                  from_address=from_address, user_id=user_id)
    if fmt == "json":
        click.echo(json.dumps({"channelID": channel.id, **ids}, sort_keys=True))
    else:
        click.echo(f"Sent message {ids['messageID']} on ticket {ids['ticketID']} "
                   f"(channel {channel.name!r}, id {channel.id}, {target.label}).")
    return EXIT_OK


def _find_channel(channels: list[RemoteChannel], name: str, label: str) -> RemoteChannel:
    """The one custom channel called ``name``; errors name what exists instead (names only)."""
    custom = sorted((c for c in channels if c.is_custom), key=lambda c: c.name)
    found = [c for c in custom if c.name == name]
    if len(found) == 1:
        return found[0]
    if found:
        ids = ", ".join(str(c.id) for c in found)
        raise ReconcilerError(f"{label} has {len(found)} custom channels named {name!r} (ids {ids}); nothing was sent")
    builtin = next((c for c in channels if not c.is_custom and c.name == name), None)
    if builtin is not None:
        raise ReconcilerError(
            f"{name!r} is a built-in channel (type {builtin.type}) on {label}: messages can only be "
            "pushed into custom channels; nothing was sent"
        )
    names = [c.name for c in custom]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if not names:
        known = "it has no custom channels"
    else:
        more = f", and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
        known = "its custom channels: " + ", ".join(repr(n) for n in names[:SHOWN_NAMES]) + more
    raise ReconcilerError(f"no custom channel named {name!r} on {label} ({known}); nothing was sent.{hint}")
