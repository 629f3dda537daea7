"""``omnidesk-channels message send|reply|redeliver``: an inbound message as a bridge pushes it; on the
emulator, an agent's reply delivered to the bridge, and a delivery sent again."""

from __future__ import annotations

import json
from typing import Any

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK, FullSummaryGroup
from reconciler.cli.arguments import CHANNELS_FILE
from reconciler.cli.common import target_options, workflow


@click.group("message", cls=FullSummaryGroup)
def message_group() -> None:
    """Messages on custom channels; on the emulator, agent replies too.

    \b
    Example:
      omnidesk-channels message send --emulator --channel "SMS gateway" --message "Smoke test"
      omnidesk-channels message reply --emulator --ticket 1 --message "Thanks, on it"
    """


@message_group.command("send")
@click.option(
    "--file",
    "file",
    type=CHANNELS_FILE,
    metavar="FILE",
    help="A channels file whose tenants: section defines --tenant.",
)
@target_options
@click.option("--channel", "channel_name", required=True, metavar="NAME", help="The custom channel's name.")
@click.option("--message", "text", required=True, metavar="TEXT", help="The message text.")
@click.option(
    "--ticket",
    "ticket_id",
    type=click.IntRange(min=1),
    metavar="ID",
    help="Add to this ticket (of the same channel); without it a new ticket is opened.",
)
@click.option("--title", default="", help="The title of a new ticket.")
@click.option("--from", "from_address", default="", metavar="ADDRESS", help="The sender's address on the medium.")
@click.option("--to", "to_address", default="", metavar="ADDRESS", help="The receiving address on the medium.")
@click.option("--user", "user_id", type=click.IntRange(min=0), metavar="ID", help="The Omnidesk user id (default 0).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help='json prints {"channelID", "ticketID", "messageID"} for scripts.',
)
def send_command(
    file: str | None,
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    channel_name: str,
    text: str,
    ticket_id: int | None,
    title: str,
    from_address: str,
    to_address: str,
    user_id: int | None,
    fmt: str,
) -> int:
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
    engine = workflow(verbose=verbose, emulator_state=emulator_state)
    target = engine.target(url=url, tenant=tenant, tenants=engine.tenants(file))
    sent = engine.send_message(
        target,
        channel_name,
        text,
        ticket_id=ticket_id,
        title=title,
        to_address=to_address,
        from_address=from_address,
        user_id=user_id,
    )
    if fmt == "json":
        click.echo(
            json.dumps(
                {"channelID": sent.channel.id, "ticketID": sent.ticket_id, "messageID": sent.message_id}, sort_keys=True
            )
        )
    else:
        click.echo(
            f"Sent message {sent.message_id} on ticket {sent.ticket_id} "
            f"(channel {sent.channel.name!r}, id {sent.channel.id}, {target.label})."
        )
    return EXIT_OK


ASSUMED_NOTE = (
    "The delivery scheme is assumed (Omnidesk does not document it): Standard Webhooks "
    "headers, signed with the channel's secret when include_signature is on."
)


@message_group.command("reply")
@target_options
@click.option(
    "--ticket",
    "ticket_id",
    type=click.IntRange(min=1),
    required=True,
    metavar="ID",
    help="The ticket to answer (from 'message send').",
)
@click.option("--message", "text", required=True, metavar="TEXT", help="The agent's reply.")
@click.option("--agent", default="Agent", show_default=True, metavar="NAME", help="The agent's name in the body.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints the delivery with every attempt.",
)
def reply_command(
    url: str | None,
    tenant: str | None,
    emulator_state: str | None,
    verbose: bool,
    ticket_id: int,
    text: str,
    agent: str,
    fmt: str,
) -> int:
    """Reply as an agent on an emulator ticket, delivered to the bridge.

    Only the emulator answers this (Omnidesk has no such call): it POSTs the reply to the channel's
    custom_channel_endpoint as Omnidesk is assumed to, an OPTIONS probe first, Standard Webhooks
    headers, signed with the channel's secret when include_signature is on, and retries a failure
    5 times. Waits for the outcome and exits 1 unless the bridge accepted it. The emulator is the
    one at --url or OMNIDESK_URL (or --emulator), the key in OMNIDESK_API_KEY (or the variable a
    tenant's api_key_env names).

    \b
    Example:
      omnidesk-channels message send --emulator --channel "SMS gateway" --message hi --format json
      omnidesk-channels message reply --emulator --ticket 1 --message "Thanks, on it"
    """
    engine = workflow(verbose=verbose, emulator_state=emulator_state)
    target = engine.target(url=url, tenant=tenant)
    return _report(engine.reply_as_agent(target, ticket_id, text, agent=agent), fmt)


@message_group.command("redeliver")
@target_options
@click.argument("delivery_id", type=click.IntRange(min=1), metavar="DELIVERY")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints the delivery with every attempt.",
)
def redeliver_command(
    url: str | None, tenant: str | None, emulator_state: str | None, verbose: bool, delivery_id: int, fmt: str
) -> int:
    """Send an emulator delivery again, with the same webhook-id.

    The emulator keeps its delivery log in memory: redeliver talks to a running emulator
    ('omnidesk-channels emulator'), at --url or OMNIDESK_URL with the key in OMNIDESK_API_KEY (or
    the variable a tenant's api_key_env names).

    \b
    Example:
      omnidesk-channels message redeliver --emulator 3
    """
    engine = workflow(verbose=verbose, emulator_state=emulator_state)
    target = engine.target(url=url, tenant=tenant)
    return _report(engine.redeliver(target, delivery_id), fmt)


def _report(delivery: dict[str, Any], fmt: str) -> int:
    from reconciler.endpoints import mask_endpoint

    delivery = {**delivery, "url": mask_endpoint(str(delivery.get("url", "")))}  # a credential in it stays hidden
    state = delivery.get("state")
    if fmt == "json":
        click.echo(json.dumps(delivery, indent=2, sort_keys=True))
    else:
        for attempt in delivery.get("attempts", []):
            if attempt["number"] == 0:  # refused before any attempt (not on this machine, not https)
                click.echo(f"  not sent: {attempt['error']}", err=True)
                continue
            status = attempt.get("status")
            said = f"answered {status}" if status is not None else "no answer"
            error = attempt.get("error") or ""
            click.echo(
                f"  attempt {attempt['number']}: {said} in {attempt['latency_ms']:.0f} ms"
                + (f" ({error})" if error and not error.startswith("answered") else ""),
                err=True,
            )
        signed = "signed" if delivery.get("signed") else "unsigned"
        click.echo(
            f"Delivery {delivery['id']} (message {delivery['messageID']} on ticket {delivery['ticketID']}, "
            f"{signed}, webhook-id {delivery['webhook_id']}) to {delivery['url']}: {state}."
        )
        click.echo(ASSUMED_NOTE, err=True)
    return EXIT_OK if state == "delivered" else EXIT_ERROR
