"""The ``emulator`` command's options, gathered into one ``EmulatorOptions`` (the delivery options
into its ``outbound``, by ``delivery_options``)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import click

from reconciler.cli.delivery_options import delivery_options
from reconciler.emulator import ALL_PERMISSIONS, AUTH_MODES, GARBAGE_MODES, QUIRKS, EmulatorOptions
from reconciler.emulator.outbound import OutboundSettings

_KNOBS = frozenset(f.name for f in dataclasses.fields(EmulatorOptions))


# The flags, in --help order; each is named as what it fills.
_FLAGS = [
    click.option(
        "--state", "state_path", type=click.Path(dir_okay=False), help="Keep the tenant in FILE across restarts."
    ),
    click.option(
        "--api-key",
        "api_keys",
        multiple=True,
        metavar="KEY=PERM,...",
        help=f"An accepted key and its permissions ({', '.join(ALL_PERMISSIONS)}). Repeatable. "
        "Default: key 'demo' with every permission (the only key ever printed).",
    ),
    click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Delay every answer."),
    click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Fraction of requests answered 503."),
    click.option("--rate-limit", type=click.IntRange(min=1), help="Requests per second before 429."),
    click.option(
        "--lose-create-responses",
        default=0.0,
        type=click.FloatRange(0, 1),
        help="Fraction of creates performed but answered 504.",
    ),
    click.option("--seed", type=int, help="Seed for the random faults (reproducible runs)."),
    click.option(
        "--quirk", "quirks", multiple=True, type=click.Choice(QUIRKS), help="Tolerated server quirk. Repeatable."
    ),
    click.option("--garbage", type=click.Choice(GARBAGE_MODES), help="Answer every list call with this garbage."),
    click.option(
        "--auth",
        type=click.Choice(AUTH_MODES),
        help="Accept the key only in this form (default: the apiKey header or the apiKey query parameter).",
    ),
    click.option("--list-type", default="list", show_default=True, help="The type field of list answers."),
    click.option(
        "--max-item-limit",
        default=99,
        show_default=True,
        type=click.IntRange(min=1),
        help="Cap itemLimit at this, whatever the client asks for.",
    ),
    click.option("--claimed-total", type=click.IntRange(min=0), help="Claim this itemTotal in every list answer."),
    click.option(
        "--body-padding",
        default=0,
        type=click.IntRange(min=0),
        metavar="BYTES",
        help="Pad every list answer with this many bytes.",
    ),
    click.option(
        "--drip-ms",
        default=0.0,
        type=click.FloatRange(min=0),
        help="Send every answer a byte at a time, this far apart.",
    ),
    click.option("--redirect-to", metavar="URL", help="Answer every request with a 307 redirect to URL."),
]


def emulator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--state, --api-key, the fault knobs and the delivery options; the command gets ``options``
    (an ``EmulatorOptions``) in their place."""

    @functools.wraps(func)
    def command(*args: Any, api_keys: tuple[str, ...], outbound: OutboundSettings, **kwargs: Any) -> Any:
        knobs = {name: kwargs.pop(name) for name in list(kwargs) if name in _KNOBS}
        options = EmulatorOptions(api_keys=_parse_api_keys(api_keys), outbound=outbound, **knobs)
        return func(*args, options=options, **kwargs)

    wrapped = delivery_options(command)
    for option in reversed(_FLAGS):
        wrapped = option(wrapped)
    return wrapped


def _parse_api_keys(values: tuple[str, ...]) -> dict[str, set[str]] | None:
    """``KEY=PERM,PERM`` options as a key -> permissions map; None when no option was given."""
    if not values:
        return None
    keys: dict[str, set[str]] = {}
    for value in values:
        key, sep, perms_text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=PERMISSION[,PERMISSION...]", param_hint="--api-key")
        perms = {p.strip() for p in perms_text.split(",") if p.strip()}
        unknown = sorted(perms - set(ALL_PERMISSIONS))
        if unknown:
            raise click.BadParameter(
                f"unknown permission {', '.join(unknown)} in {key}=...; known: {', '.join(ALL_PERMISSIONS)}",
                param_hint="--api-key",
            )
        keys[key] = perms
    return keys
