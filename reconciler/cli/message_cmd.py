"""``omnidesk-channels message send``: push an inbound message into a custom channel (smoke test)."""
from __future__ import annotations

import json

import click

from reconciler.cli import EXIT_OK, FullSummaryGroup
from reconciler.cli.arguments import CHANNELS_FILE
from reconciler.cli.common import target_options, workflow


@click.group("message", cls=FullSummaryGroup)
def message_group() -> None:
    """Inbound messages on custom channels, as a bridge pushes them.

    \b
    Example:
      omnidesk-channels message send --emulator --channel "SMS gateway" --message "Smoke test"
    """


@message_group.command("send")
@click.option("--file", "file", type=CHANNELS_FILE, metavar="FILE",
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
    """Post an inbound message to the custom channel --channel names.

    The call is customChannelMessage.

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
    engine = workflow(verbose=verbose)
    target = engine.target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=engine.tenants(file))
    sent = engine.send_message(target, channel_name, text, ticket_id=ticket_id, title=title,
                               to_address=to_address, from_address=from_address, user_id=user_id)
    if fmt == "json":
        click.echo(json.dumps({"channelID": sent.channel.id, "ticketID": sent.ticket_id,
                               "messageID": sent.message_id}, sort_keys=True))
    else:
        click.echo(f"Sent message {sent.message_id} on ticket {sent.ticket_id} "
                   f"(channel {sent.channel.name!r}, id {sent.channel.id}, {target.label}).")
    return EXIT_OK

