"""``omnidesk-channels probe``: check each endpoint of a channels file answers as Omnidesk needs."""

from __future__ import annotations

import click

from reconciler.cli import EXIT_ERROR, EXIT_OK
from reconciler.cli.arguments import CHANNELS_FILE, OneFileCommand
from reconciler.policy import DENY
from reconciler.probe import DEFAULT_TIMEOUT, render_table


@click.command("probe", cls=OneFileCommand)
@click.argument("file", type=CHANNELS_FILE)
@click.option("--tenant", metavar="NAME", help="Probe this tenant's view of the file (its vars fill the endpoints).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Give up on one endpoint after this long, every step included.",
)
@click.option(
    "--parallelism", type=click.IntRange(1, 64), default=8, show_default=True, help="Endpoints probed at once."
)
def probe_command(file: str, tenant: str | None, timeout: float, parallelism: int) -> int:
    """Check that each endpoint of FILE answers as Omnidesk needs it to.

    DNS, the TLS certificate, OPTIONS answered 2xx with Allow: POST, and the first byte within
    1 second. Sends one OPTIONS per endpoint: never a secret, never a message (no POST). Makes no
    Omnidesk API call. An endpoint on plain http, or whose host resolves to a private address or
    to this machine, fails without a connection (Omnidesk could not reach it; set
    OMNIDESK_PROBE_LOOPBACK=1 in the environment to probe a bridge on this machine). Trusted
    certificates are the system's (SSL_CERT_FILE names another bundle). Prints a table; each
    failing endpoint is a finding of the policy rule endpoint-answers (warn unless the file's
    policy: says deny): exits 1 on a deny finding, else 0.

    \b
    Example:
      omnidesk-channels probe channels.yaml --tenant production
      omnidesk-channels plan channels.yaml --tenant production --probe
    """
    from reconciler.cli.common import workflow

    probed = workflow(parallelism=parallelism).probe(file, tenant=tenant, timeout=timeout)
    if not probed.results:
        click.echo("No endpoints to probe.")
        return EXIT_OK
    click.echo(render_table(probed.results, probed.channels), nl=False)
    answers = [f for f in probed.findings if f.rule == "endpoint-answers"]
    for finding in answers:
        click.echo(f"Warning: {finding.file}:{finding.line}: {finding}", err=True)
    failed = sum(1 for r in probed.results.values() if not r.ok)
    click.echo(
        f"Probed {len(probed.results)} endpoint(s): {len(probed.results) - failed} answered, {failed} failed.", err=True
    )
    return EXIT_ERROR if any(f.level == DENY for f in answers) else EXIT_OK
