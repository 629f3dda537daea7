"""Plans against a committed snapshot of a tenant, for runs that may hold no key (a fork's pull request).

A pull request from a fork gets no secrets, so it cannot read the tenant. What it can read is the
repository: the nightly import job commits each tenant's export (``export FILE --tenant NAME --out
omnidesk-snapshots/NAME.yaml``, an ordinary channels file: names and fields, secrets only as
``${env:...}`` placeholders) next to the channels file. Planning the pull request's file against
that export shows what it would change on the tenant as it was when the snapshot was committed;
every output says so (``Plan.snapshot``), and no key is read, no call is made.

The snapshot is read from the base branch (``Snapshot.file`` at the commit the request targets),
never from the request's own checkout: the author of the request must not choose what the plan is
compared with. ``Snapshot.date`` is the date of the last commit that changed it there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from reconciler.config import load_channels_file
from reconciler.ignore import view_ignore, without_ignored
from reconciler.model import CUSTOM_TYPE, RemoteChannel
from reconciler.plan import Plan
from reconciler.planning import make_plan
from reconciler.policy import findings
from reconciler.workflow import Workflow

SNAPSHOT_DIR = "omnidesk-snapshots"


@dataclass(frozen=True)
class Snapshot:
    """A tenant's committed export: where it is in the repository, when it was committed, its text."""

    file: str
    date: str
    text: str


def snapshot_file(channels_file: str | os.PathLike[str], tenant: str | None) -> str:
    """``omnidesk-snapshots/TENANT.yaml`` beside the channels file (``default.yaml`` for the
    ``OMNIDESK_URL`` target), as a repository path."""
    folder = PurePosixPath(os.fspath(channels_file).replace(os.sep, "/")).parent
    return str(folder / SNAPSHOT_DIR / f"{tenant or 'default'}.yaml")


def snapshot_channels(snapshot: Snapshot, tenant: str | None) -> list[RemoteChannel]:
    """The snapshot's channels as the tenant would list them (ids are made up: nothing is called)."""
    loaded = load_channels_file(snapshot.file, tenant=tenant, environ={}, text=snapshot.text)
    return [RemoteChannel(id=n, type=CUSTOM_TYPE, fields=dict(c.fields)) for n, c in enumerate(loaded.channels, 1)]


def plan_against_snapshot(
    engine: Workflow, path: str | os.PathLike[str], tenant: str | None, snapshot: Snapshot
) -> Plan:
    """The file's plan for ``tenant`` against ``snapshot`` instead of the live tenant: no key, no call."""
    view = engine.load(path, tenant=tenant)
    current = without_ignored(snapshot_channels(snapshot, tenant), view_ignore(view))
    plan = make_plan(view.channels, current, prune=view.prune, target=f"{tenant or 'default'} (snapshot)")
    return replace(plan, findings=findings(view), snapshot=(snapshot.date, snapshot.file))
