"""The emulator command's options for agent replies (the sandbox), gathered into one ``OutboundSettings``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from reconciler.emulator.outbound import FAULTS, SCHEMES, OutboundSettings, new_forward_secret

# The flags, in --help order; each is named as what it fills.
_FLAGS = [
    click.option(
        "--forward-to",
        metavar="URL",
        help="Deliver every channel's agent replies to URL (a bridge on this machine), signed with a "
        "secret printed at start.",
    ),
    click.option(
        "--deliver-remote",
        is_flag=True,
        help="Also deliver to endpoints beyond this machine (https only). Off: a sandbox never "
        "reaches out by surprise.",
    ),
    click.option(
        "--delivery-scheme",
        type=click.Choice(SCHEMES),
        default=SCHEMES[0],
        show_default=True,
        help="How replies are signed (assumed: Omnidesk does not document it); none sends no webhook-* headers.",
    ),
    click.option(
        "--delivery-fault",
        "delivery_faults",
        type=click.Choice(FAULTS),
        multiple=True,
        help="duplicate: every attempt sent twice; clock-skew: timestamps 10 minutes ahead; "
        "two-signatures: after a secret changes, signed with the new and the old. Repeatable.",
    ),
    click.option(
        "--delivery-delay-ms",
        type=click.FloatRange(min=0),
        default=0,
        help="Start each delivery attempt this late (a slow sender).",
    ),
    click.option(
        "--delivery-backoff",
        type=click.FloatRange(min=0),
        default=1.0,
        show_default=True,
        help="Seconds before the first retry; each next waits twice as long (+-20%), 5 retries.",
    ),
    click.option(
        "--page-writable", is_flag=True, help="Let the page at / send replies even when listening beyond loopback."
    ),
]


def delivery_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--forward-to / --deliver-remote / --delivery-scheme / --delivery-fault / --delivery-delay-ms /
    --delivery-backoff / --page-writable; the command gets ``outbound`` and ``page_writable``."""

    @functools.wraps(func)
    def command(
        *args: Any,
        forward_to: str | None,
        deliver_remote: bool,
        delivery_scheme: str,
        delivery_faults: tuple[str, ...],
        delivery_delay_ms: float,
        delivery_backoff: float,
        **kwargs: Any,
    ) -> Any:
        kwargs["outbound"] = OutboundSettings(
            scheme=delivery_scheme,
            forward_to=forward_to,
            forward_secret=new_forward_secret() if forward_to else None,
            deliver_remote=deliver_remote,
            delay_ms=delivery_delay_ms,
            backoff_base=delivery_backoff,
            faults=frozenset(delivery_faults),
        )
        return func(*args, **kwargs)

    for option in reversed(_FLAGS):
        command = option(command)
    return command
