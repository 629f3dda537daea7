"""``omnidesk-channels emulator``: serve a local emulated tenant until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from reconciler.cli.emulator_options import emulator_options
from reconciler.emulator import ALL_PERMISSIONS, Emulator, EmulatorOptions, StateFileError, serve_in_thread
from reconciler.emulator.outbound import ASSUMED
from reconciler.transport import is_loopback


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free port).")
@emulator_options
def emulator(host: str, port: int, options: EmulatorOptions, page_writable: bool) -> None:
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
    try:
        emu = Emulator(options)
    except StateFileError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot use the state file {options.state_path}: {exc.strerror}") from exc
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
        _banner(server.url, host, options, read_only_page=bool(server.read_only_page))
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        emu.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    state_path = options.state_path
    click.echo("Emulator stopped" + (f"; state saved to {state_path}" if state_path else "") + ".")


def _banner(url: str, host: str, options: EmulatorOptions, *, read_only_page: bool) -> None:
    """What the emulator serves and how to reach it; keys given on the command line never show."""
    keys, outbound, auth = options.api_keys, options.outbound, options.auth
    click.echo(f"Omnidesk emulator listening on {url}")
    if keys is None:
        click.echo(f"API key: demo ({', '.join(ALL_PERMISSIONS)})")
    else:
        # Keys given on the command line are real secrets to someone: never echo them.
        click.echo(f"API keys: the {len(keys)} given with --api-key (not shown)")
    if not is_loopback(host):
        click.echo(
            f"Warning: listening on {host}, beyond this machine: anyone who can reach it can use "
            + ("the demo key, printed above" if keys is None else "the emulator with a key")
            + ". Use --host 127.0.0.1 unless other machines must reach it.",
            err=True,
        )
    if auth is not None:
        click.echo(f"Auth: the key only as {auth}" if auth != "any" else "Auth: the key in any of the three forms")
    click.echo(f"State: {options.state_path}" if options.state_path else "State: in memory only (lost on exit)")
    page = "read-only" if read_only_page else "reply as an agent there"
    click.echo(f"Page: {url}/ (channels, tickets, deliveries; {page})")
    if outbound is not None and outbound.forward_to:
        click.echo(f"Forwarding every agent reply to {outbound.forward_to}")
        click.echo(f"Signing secret for your bridge: {outbound.forward_secret}")
    click.echo(f"Replies: {ASSUMED}")
    click.echo("Press Ctrl-C to stop.", nl=True)
