"""``omnidesk-channels emulator``: serve a local emulated tenant until Ctrl-C or SIGTERM."""
from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from reconciler.cli.delivery_options import delivery_options
from reconciler.emulator import (
    ALL_PERMISSIONS,
    AUTH_MODES,
    GARBAGE_MODES,
    QUIRKS,
    Emulator,
    StateFileError,
    serve_in_thread,
)
from reconciler.emulator.outbound import ASSUMED, OutboundSettings
from reconciler.transport import is_loopback


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


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), help="Keep the tenant in FILE across restarts.")
@click.option("--api-key", "api_keys", multiple=True, metavar="KEY=PERM,...",
              help=f"An accepted key and its permissions ({', '.join(ALL_PERMISSIONS)}). Repeatable. "
                   "Default: key 'demo' with every permission (the only key ever printed).")
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Delay every answer.")
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Fraction of requests answered 503.")
@click.option("--rate-limit", type=click.IntRange(min=1), help="Requests per second before 429.")
@click.option("--lose-create-responses", default=0.0, type=click.FloatRange(0, 1),
              help="Fraction of creates performed but answered 504.")
@click.option("--seed", type=int, help="Seed for the random faults (reproducible runs).")
@click.option("--quirk", "quirks", multiple=True, type=click.Choice(QUIRKS), help="Tolerated server quirk. Repeatable.")
@click.option("--garbage", type=click.Choice(GARBAGE_MODES), help="Answer every list call with this garbage.")
@click.option("--auth", type=click.Choice(AUTH_MODES),
              help="Accept the key only in this form (default: the apiKey header or the apiKey query parameter).")
@click.option("--list-type", default="list", show_default=True, help="The type field of list answers.")
@click.option("--max-item-limit", default=99, show_default=True, type=click.IntRange(min=1),
              help="Cap itemLimit at this, whatever the client asks for.")
@click.option("--claimed-total", type=click.IntRange(min=0), help="Claim this itemTotal in every list answer.")
@click.option("--body-padding", default=0, type=click.IntRange(min=0), metavar="BYTES",
              help="Pad every list answer with this many bytes.")
@click.option("--drip-ms", default=0.0, type=click.FloatRange(min=0),
              help="Send every answer a byte at a time, this far apart.")
@click.option("--redirect-to", metavar="URL", help="Answer every request with a 307 redirect to URL.")
@delivery_options
def emulator(
    host: str,
    port: int,
    state_path: str | None,
    api_keys: tuple[str, ...],
    latency_ms: float,
    error_rate: float,
    rate_limit: int | None,
    lose_create_responses: float,
    seed: int | None,
    quirks: tuple[str, ...],
    garbage: str | None,
    auth: str | None,
    list_type: str,
    max_item_limit: int,
    claimed_total: int | None,
    body_padding: int,
    drip_ms: float,
    redirect_to: str | None,
    outbound: OutboundSettings,
    page_writable: bool,
) -> None:
    """Run a local emulated Omnidesk tenant in the foreground.

    It serves the Channel API as this project's wire contract describes it.

    It makes no API call: it is the API. Point the other commands at it with --url and its key
    (OMNIDESK_API_KEY=demo unless --api-key sets others).

    It implements the contract the other commands code against, with built-in channels present,
    and can inject faults. Ctrl-C or SIGTERM stops it and saves the state (with --state: 0600,
    as it holds the channels' secrets; one emulator at a time per state file). Request bodies are
    limited to 1 MiB and read only after the key was checked.

    It is also the channel's other end: the page at its URL shows channels, tickets and deliveries
    and lets you reply as an agent; a reply is POSTed to the channel's endpoint as Omnidesk is
    assumed to (Standard Webhooks headers, signed when include_signature is on, an OPTIONS probe
    first, 5 retries), and only to endpoints on this machine unless --deliver-remote.

    \b
    Example:
      omnidesk-channels emulator --port 8080 --state tenant.json
      omnidesk-channels emulator --api-key ro=CHANNEL_READ --api-key rw=CHANNEL_READ,CHANNEL_CUD
      omnidesk-channels emulator --error-rate 0.2 --rate-limit 5 --seed 1 --quirk no-paging
      omnidesk-channels emulator --auth query --max-item-limit 25 --quirk no-item-total
      omnidesk-channels emulator --forward-to http://127.0.0.1:3000/omnidesk
    """
    keys = _parse_api_keys(api_keys)
    try:
        emu = Emulator(
            api_keys=keys,
            state_path=state_path,
            latency_ms=latency_ms,
            error_rate=error_rate,
            rate_limit=rate_limit,
            lose_create_responses=lose_create_responses,
            seed=seed,
            quirks=quirks,
            garbage=garbage,
            auth=auth,
            list_type=list_type,
            max_item_limit=max_item_limit,
            claimed_total=claimed_total,
            body_padding=body_padding,
            drip_ms=drip_ms,
            redirect_to=redirect_to,
            outbound=outbound,
        )
    except StateFileError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot use the state file {state_path}: {exc.strerror}") from exc
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = serve_in_thread(emu, host=host, port=port, read_only_page=False if page_writable else None)
    try:
        try:
            server.start()
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        click.echo(f"Omnidesk emulator listening on {server.url}")
        if keys is None:
            click.echo(f"API key: demo ({', '.join(ALL_PERMISSIONS)})")
        else:
            # Keys given on the command line are real secrets to someone: never echo them.
            click.echo(f"API keys: the {len(keys)} given with --api-key (not shown)")
        if not is_loopback(host):
            click.echo(f"Warning: listening on {host}, beyond this machine: anyone who can reach it can use "
                       + ("the demo key, printed above" if keys is None else "the emulator with a key")
                       + ". Use --host 127.0.0.1 unless other machines must reach it.", err=True)
        if auth is not None:
            click.echo(f"Auth: the key only as {auth}" if auth != "any" else "Auth: the key in any of the three forms")
        click.echo(f"State: {state_path}" if state_path else "State: in memory only (lost on exit)")
        page = "read-only" if server.read_only_page else "reply as an agent there"
        click.echo(f"Page: {server.url}/ (channels, tickets, deliveries; {page})")
        if outbound.forward_to:
            click.echo(f"Forwarding every agent reply to {outbound.forward_to}")
            click.echo(f"Signing secret for your bridge: {outbound.forward_secret}")
        click.echo(f"Replies: {ASSUMED}")
        click.echo("Press Ctrl-C to stop.", nl=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        emu.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Emulator stopped" + (f"; state saved to {state_path}" if state_path else "") + ".")
