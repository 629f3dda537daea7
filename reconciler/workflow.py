"""The engine's one entry: load → target → read the tenant → plan → checks → apply / save / export / clone / import.

Every command of the CLI goes through ``Workflow`` (as octoDNS's commands go through its
``Manager``), so a Python user gets exactly the command line's behaviour::

    from reconciler.workflow import Workflow

    workflow = Workflow()                                  # OMNIDESK_URL, OMNIDESK_API_KEY
    planned = workflow.plan("examples/quickstart.yaml")
    print(planned.plan.summary())
    report = workflow.apply(planned)                       # checks, then writes
    print(report.summary(), report.created)

Nothing here prints or prompts: results and errors (``ReconcilerError``) go back to the caller.
A file's ``ignore:`` patterns are applied in one place, ``read``: the channels they match are gone
before anything plans, prunes, exports, imports or clones.
A ``Workflow`` holds no state between calls, so one can serve several threads (every tenant at once).
"""
from __future__ import annotations

import copy
import os
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from reconciler.client import OmnideskClient
from reconciler.checks import APPLY, PLAN, SAVE, WRITE, CheckContext, Finding, run_checks
from reconciler.config import load_channels_file, load_settings, load_tenants
from reconciler.errors import ImportRefused, ReconcilerError
from reconciler.files import read_text, write_atomically
from reconciler.ignore import ignore_for, view_ignore, without_ignored
from reconciler.model import ChannelsFile, DesiredChannel, RemoteChannel, Tenant
from reconciler.plan import Plan, make_plan
from reconciler.policy import Finding as PolicyFinding
from reconciler.policy import findings
from reconciler.probe import DEFAULT_TIMEOUT as PROBE_TIMEOUT
from reconciler.probe import ProbeResult, probe_endpoints
from reconciler.planfile import load_plan, save_plan
from reconciler.filekinds import SAVED_PLAN, check_output, require_input
from reconciler.thresholds import DEFAULT_THRESHOLDS, Thresholds, thresholds_of
from reconciler.secrets import SecretDigests, Secrets, restore_endpoints
from reconciler.selection import Selection, Unmatched, select, unmatched
from reconciler.target import DEFAULT_TIMEOUT, Target, open_client, resolve_target, target_from_connection
from reconciler.transport import HostPools

if TYPE_CHECKING:  # apply, export and import load where they are used: a plan needs none of them
    from reconciler.apply import ApplyReport, Outcome
    from reconciler.export import Export
    from reconciler.importer import Imported


# A delivery with every retry (5, waits doubling from 1 s, each attempt up to 1 s) takes under a
# minute: how long a reply waits for its outcome.
DELIVERY_WAIT = 90.0


@dataclass(frozen=True)
class Planned:
    """A plan with what applying it needs: where it goes and the secret values it may send.

    ``saved`` marks a plan read back from ``plan --out``: applying it first checks that the
    channels it touches have not changed since (``check_fresh``). ``thresholds`` are the safety
    limits the plan was made under; a saved plan keeps them.
    """

    plan: Plan
    target: Target
    secrets: Secrets
    channels_file: ChannelsFile | None = None
    saved: bool = False
    thresholds: Thresholds = DEFAULT_THRESHOLDS  # the file's and the tenant's safety:, kept by a saved plan
    digests: SecretDigests | None = None  # a saved plan's: the secrets and endpoint credentials planned with
    unmatched: Unmatched = ()  # --only/--exclude patterns matching no change here (``plan(strict=False)``)


@dataclass(frozen=True)
class Probed:
    """Each endpoint of a file's view probed (``probe.py``), the channels at each, and the policy's findings."""

    results: Mapping[str, ProbeResult]
    channels: Mapping[str, list[str]]  # endpoint -> the names of the channels that use it
    findings: tuple[PolicyFinding, ...]


@dataclass(frozen=True)
class Exported:
    export: Export
    target: Target
    custom_count: int


@dataclass(frozen=True)
class ImportedFile:
    imported: Imported
    target: Target
    path: str  # the channels file, rewritten in place when ``imported.changed``


@dataclass(frozen=True)
class Cloned:
    planned: Planned
    exported: Exported  # the source tenant's export, templated with its vars


class Workflow:
    """Load, read, plan, check, apply, save, export and clone, with one set of rules."""

    def __init__(self, *, environ: Mapping[str, str] | None = None, parallelism: int = 8,
                 timeout: float = DEFAULT_TIMEOUT, auth: str | None = None, pools: HostPools | None = None) -> None:
        """``timeout``: seconds for one call, body included; ``auth``: where the key goes (see ``target``);
        ``pools``: connection pools to share between the clients of many tenants (see ``sharing``)."""
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.parallelism = parallelism
        self.timeout = timeout
        self.auth = auth
        self.pools = pools

    def sharing(self, pools: HostPools) -> Workflow:
        """This workflow, its clients borrowing ``pools``' connections: one pool per host for every tenant on it."""
        shared = copy.copy(self)
        shared.pools = pools
        return shared

    # -- load and target -------------------------------------------------------------------------

    def load(self, path: str | os.PathLike[str], *, tenant: str | None = None) -> ChannelsFile:
        require_input(path)
        return load_channels_file(path, tenant=tenant, environ=self.environ)

    def tenants(self, path: str | os.PathLike[str] | None) -> dict[str, Tenant]:
        if path is None:
            return {}
        require_input(path)
        return load_tenants(path)

    def target(self, *, url: str | None = None, tenant: str | None = None, emulator_state: str | None = None,
               tenants: Mapping[str, Tenant] | None = None) -> Target:
        return resolve_target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=tenants or {},
                              environ=self.environ, auth=self.auth)

    def read(self, target: Target, ignore: Sequence[str] = ()) -> list[RemoteChannel]:
        """The tenant's channels but the ``ignore`` ones, through the list endpoint only (CHANNEL_READ suffices)."""
        with self._client(target) as client:
            return without_ignored(client.list_channels(), ignore)

    def _client(self, target: Target) -> AbstractContextManager[OmnideskClient]:
        return open_client(target, parallelism=self.parallelism, timeout=self.timeout, pools=self.pools)

    # -- plan ------------------------------------------------------------------------------------

    def plan(self, path: str | os.PathLike[str], *, url: str | None = None, tenant: str | None = None,
             emulator_state: str | None = None, prune: bool = False, rotate_secrets: bool = False,
             loaded: ChannelsFile | None = None, probe: bool = False, only: Sequence[str] = (),
             exclude: Sequence[str] = (), strict: bool = True) -> Planned:
        """Load the file, read the tenant and compute the plan. Writes nothing.

        A file that defines tenants needs ``tenant`` (``TargetError`` otherwise, before any call).
        ``loaded``: the file as already loaded for ``tenant`` (every tenant at once parses it once).
        ``probe``: also probe every endpoint (a failing one is an ``endpoint-answers`` finding).
        ``only``/``exclude``: globs of channel names; the plan keeps only the changes they select and
        says it is partial (``selection.py``; a pattern matching no change is ``UnmatchedPatternError``).
        Checks then count the partial plan: the safety thresholds hold it to what it changes.
        ``strict=False``: an unmatched pattern is not raised but kept in ``Planned.unmatched`` (every
        tenant at once judges the patterns over all tenants).
        """
        channels_file = loaded or self.load(path, tenant=tenant)
        target = self.target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=channels_file.tenants)
        plan = self.plan_channels(channels_file.channels, target, prune=prune or channels_file.prune,
                                  rotate_secrets=rotate_secrets, ignore=view_ignore(channels_file))
        found = self.probe(path, loaded=channels_file).findings if probe else findings(channels_file)
        selection = Selection(tuple(only), tuple(exclude))
        whole = replace(plan, findings=found)
        return Planned(select(whole, selection, strict=strict), target, Secrets.from_channels(channels_file.channels),
                       channels_file, thresholds=thresholds_of(channels_file), unmatched=unmatched(whole, selection))

    def plan_channels(self, channels: Sequence[DesiredChannel], target: Target, *, prune: bool = False,
                      rotate_secrets: bool = False, ignore: Sequence[str] = ()) -> Plan:
        return make_plan(channels, self.read(target, ignore), prune=prune, rotate_secrets=rotate_secrets,
                         target=target.label)

    def probe(self, path: str | os.PathLike[str], *, tenant: str | None = None, loaded: ChannelsFile | None = None,
              timeout: float = PROBE_TIMEOUT) -> Probed:
        """Probe every endpoint of the file's view as Omnidesk would reach it; sends no secret, no message."""
        channels_file = loaded or self.load(path, tenant=tenant)
        users: dict[str, list[str]] = {}
        for channel in channels_file.channels:
            if channel.fields["custom_channel_endpoint"]:
                users.setdefault(channel.fields["custom_channel_endpoint"], []).append(channel.name)
        results = probe_endpoints(users, timeout=timeout, parallelism=self.parallelism, environ=self.environ)
        verdicts = {endpoint: result.problem for endpoint, result in results.items()}
        return Probed(results, users, findings(channels_file, probes=verdicts))

    # -- checks and apply ------------------------------------------------------------------------

    def review(self, planned: Planned) -> tuple[Finding, ...]:
        """What the plan checks (``checks.PLAN_CHECKS``) say about a plan being shown; refuses nothing.

        A ``DENY`` finding is one apply would refuse (a safety threshold passed, say); a ``WARN``
        one is worth saying (a secret variable unset here, which the apply must have).
        """
        found = run_checks(self._context(planned, PLAN))
        return tuple(sorted(found, key=lambda finding: not finding.denies))  # what apply refuses first

    def check(self, planned: Planned, *, allow_deletes: int | None = None, allow_updates: int | None = None,
              allow_policy: Sequence[str] = ()) -> None:
        """Everything that must hold before a write: no policy finding at deny (but the rules
        ``allow_policy`` names), secrets present, updates and deletes within the planned thresholds
        (or exactly the counts allowed), and every other check of ``PLAN_CHECKS``.

        Present means in ``planned.secrets``: a saved plan's secrets come from the apply's
        environment, so one unset when it was planned (a CI plan job holds none) counts if set now.
        """
        run_checks(self._context(planned, APPLY, allow_deletes=allow_deletes, allow_updates=allow_updates,
                                 allow_policy=allow_policy))

    def apply(self, planned: Planned, *, allow_deletes: int | None = None, allow_updates: int | None = None,
              allow_policy: Sequence[str] = (), on_outcome: Callable[[Outcome], None] | None = None,
              stop: threading.Event | None = None) -> ApplyReport:
        """Check, then carry out the plan. A saved plan is first checked against the tenant's channels."""
        from reconciler.apply import apply_plan

        self.check(planned, allow_deletes=allow_deletes, allow_updates=allow_updates, allow_policy=allow_policy)
        with self._client(planned.target) as client:
            run_checks(self._context(planned, WRITE, current=client.list_channels))
            return apply_plan(planned.plan, client, planned.secrets, parallelism=self.parallelism,
                              on_outcome=on_outcome, stop=stop)

    @staticmethod
    def _context(planned: Planned, moment: str, **options: Any) -> CheckContext:
        return CheckContext(planned.plan, moment, thresholds=planned.thresholds, secrets=planned.secrets,
                            digests=planned.digests, saved=planned.saved, **options)

    # -- saved plans -----------------------------------------------------------------------------

    def save(self, planned: Planned, path: str | os.PathLike[str], *, secrets_at_apply: bool = False,
             force: bool = False) -> None:
        """Write the plan for ``apply PLAN``; refuses a plan whose secrets are not all set, unless
        ``secrets_at_apply``: CI plan jobs hold no secrets on purpose, and a secret unset when
        planned is taken from the apply's environment unchecked (its digest is left out). Refuses a
        path that is the channels file or another kind of file (unless ``force``; see ``paths``)."""
        check_output(path, kind=SAVED_PLAN, inputs=[planned.channels_file.path if planned.channels_file else None],
                     force=force)
        run_checks(self._context(planned, SAVE, secrets_at_apply=secrets_at_apply))
        save_plan(planned.plan, planned.target.connection(), path, planned.secrets, thresholds=planned.thresholds)

    def load_saved(self, path: str | os.PathLike[str], *, url: str | None = None, tenant: str | None = None,
                   emulator_state: str | None = None) -> Planned:
        """A saved plan, ready to apply where it was made; the secrets are read from the environment
        and must be the ones it was planned with. ``url``/``tenant``/``emulator_state``, when given,
        must name that same place."""
        saved = load_plan(path)
        connection = saved.connection
        asked = {"url": url.rstrip("/") if url else None, "tenant": tenant, "emulator_state": emulator_state}
        for key, value in asked.items():
            if value is not None and connection.get(key, "").rstrip("/") != value:
                raise ReconcilerError(
                    f"{os.fspath(path)} was planned for {connection['label']}, not for the "
                    f"{key.replace('_', ' ')} {value!r}; nothing was changed (a saved plan applies where it was planned)"
                )
        target = target_from_connection(connection, self.environ, auth=self.auth)
        secrets = Secrets.from_environment(saved.plan, self.environ, saved.secret_digests)
        plan = restore_endpoints(saved.plan, self.environ, saved.secret_digests)
        return Planned(plan, target, secrets, saved=True, thresholds=saved.thresholds, digests=saved.secret_digests)

    # -- export and clone ------------------------------------------------------------------------

    def export(self, path: str | os.PathLike[str] | None = None, *, url: str | None = None,
               tenant: str | None = None, emulator_state: str | None = None) -> Exported:
        """The tenant's custom channels as a channels file; with a file and a tenant, templated
        with that tenant's vars and keeping the file's ``tenants:`` limits. Channels the file
        ignores are left out, and its ``ignore:`` lists are written back."""
        tenants, ignore = self.settings(path)
        target = self.target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=tenants)
        current = self.read(target, ignore_for(ignore, tenants.get(tenant) if tenant else None))
        return Exported(self._export(current, path, tenant, tenants, ignore), target,
                        sum(1 for c in current if c.is_custom))

    def settings(self, path: str | os.PathLike[str] | None) -> tuple[dict[str, Tenant], tuple[str, ...]]:
        """The file's tenants and top-level ``ignore:`` patterns (none without a file)."""
        if path is None:
            return {}, ()
        require_input(path)
        return load_settings(path)

    def _export(self, current: list[RemoteChannel], path: str | os.PathLike[str] | None, tenant: str | None,
                tenants: Mapping[str, Tenant], ignore: Sequence[str]) -> Export:
        from reconciler.export import export_channels

        if path is None or tenant is None:
            return export_channels(current, tenants=tenants, ignore=ignore)
        view = self.load(path, tenant=tenant)
        limited = {c.name: sorted(c.tenants) for c in view.channels if c.tenants is not None}
        return export_channels(current, variables=tenants[tenant].vars, tenants=tenants, channel_tenants=limited,
                               ignore=ignore)

    def clone(self, path: str | os.PathLike[str], source: str, dest: str, *, prune: bool = False) -> Cloned:
        """Plan the source tenant's custom channels onto the destination tenant.

        The source's export (its var values turned into ``${var:NAME}``) is read as the destination
        sees it. Channels the file declares for the destination only are added to the desired
        state: the source cannot have them, so without this ``prune`` would delete them. What
        either tenant's view of the file ignores is neither copied nor touched on the destination.
        """
        if source == dest:
            raise ReconcilerError(f"--from and --to are both {source!r}: name two different tenants")
        tenants, ignore = self.settings(path)
        source_target = self.target(tenant=source, tenants=tenants)
        target = self.target(tenant=dest, tenants=tenants)
        dest_ignore = ignore_for(ignore, tenants.get(dest))
        current = self.read(source_target, ignore_for(ignore, tenants.get(source)) + dest_ignore)
        exported = Exported(self._export(current, path, source, tenants, ignore), source_target,
                            sum(1 for c in current if c.is_custom))
        desired = load_channels_file(f"<export of {source}>", tenant=dest, environ=self.environ,
                                     text=exported.export.text)
        cloned = {c.name for c in desired.channels}
        dest_view = self.load(path, tenant=dest)
        own = [c for c in dest_view.channels
               if c.tenants is not None and source not in c.tenants and c.name not in cloned]
        wanted = list(desired.channels) + own
        plan = self.plan_channels(wanted, target, prune=prune, ignore=dest_ignore)
        view = replace(dest_view, channels=tuple(wanted))  # the destination's policy over what it gets
        plan = replace(plan, findings=findings(view))
        planned = Planned(plan, target, Secrets.from_channels(wanted), replace(desired, channels=tuple(wanted)),
                          thresholds=thresholds_of(dest_view))
        return Cloned(planned, exported)

    # -- import ----------------------------------------------------------------------------------

    def import_(self, path: str | os.PathLike[str], *, url: str | None = None, tenant: str | None = None,
                emulator_state: str | None = None, names: Sequence[str] = (), update: bool = False) -> ImportedFile:
        """Add the tenant's custom channels the file lacks (only ``names`` when given) to the file,
        in place; with ``update``, also take the drift of its channels back. Reads the tenant only."""
        file = os.fspath(path)
        view = self.load(file, tenant=tenant)  # from disk first: its checks name a file that is unreadable
        text = read_text(file)
        target = self.target(url=url, tenant=tenant, emulator_state=emulator_state, tenants=view.tenants)
        current = self.read(target, view_ignore(view))
        from reconciler.importer import import_channels

        imported = import_channels(
            text, file=file, view=view, current=current, names=names, update=update,
            reload=lambda edited: load_channels_file(file, tenant=tenant, environ=self.environ, text=edited),
        )
        if imported.changed:
            if read_text(file) != text:
                raise ImportRefused("the file changed while importing: run import again", file=file)
            write_atomically(file, imported.text)
        return ImportedFile(imported, target, file)

    def import_update(self, path: str | os.PathLike[str], **options: Any) -> ImportedFile:
        """``import_`` that also writes the tenant's values of the file's drifted channels into the file."""
        return self.import_(path, update=True, **options)

    # -- messages --------------------------------------------------------------------------------

    def send_message(self, target: Target, channel_name: str, message: str, **fields: Any) -> Sent:
        """Push an inbound message into the custom channel named ``channel_name`` (smoke tests).

        ``fields``: ``ticket_id``, ``title``, ``to_address``, ``from_address``, ``user_id``.
        """
        with self._client(target) as client:
            channel = _find_channel(client.list_channels(), channel_name, target.label)
            ids = client.send_message(channel.id, message, **fields)
        return Sent(channel, ids["ticketID"], ids["messageID"])


    # -- the emulator's sandbox: agent replies delivered to a bridge -------------------------------

    def reply_as_agent(self, target: Target, ticket_id: int, message: str, *, agent: str = "Agent",
                       wait: float = DELIVERY_WAIT) -> dict[str, Any]:
        """An agent's reply on ``ticket_id``, delivered by the emulator to the channel's endpoint; returns
        the delivery once it is done (delivered, failed after its retries) or ``wait`` seconds passed."""
        with self._client(target) as client:
            delivery = client.sandbox_reply(ticket_id, message, agent=agent)
            return self._settled(client, delivery, wait)

    def redeliver(self, target: Target, delivery_id: int, *, wait: float = DELIVERY_WAIT) -> dict[str, Any]:
        """Send a logged delivery again, with its webhook-id; returns it once done or ``wait`` passed."""
        with self._client(target) as client:
            return self._settled(client, client.sandbox_redeliver(delivery_id), wait)

    @staticmethod
    def _settled(client: OmnideskClient, delivery: dict[str, Any], wait: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while delivery.get("state") == "pending" and time.monotonic() < deadline:
            delivery = client.sandbox_delivery(int(delivery["id"]), wait=min(10.0, deadline - time.monotonic()))
        return delivery


@dataclass(frozen=True)
class Sent:
    channel: RemoteChannel
    ticket_id: int
    message_id: int


SHOWN_NAMES = 20  # a tenant may have hundreds of channels; an error message should stay readable


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
    import difflib  # only on this error path: a plan never needs it

    names = [c.name for c in custom]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if not names:
        known = "it has no custom channels"
    else:
        more = f", and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
        known = "its custom channels: " + ", ".join(repr(n) for n in names[:SHOWN_NAMES]) + more
    raise ReconcilerError(f"no custom channel named {name!r} on {label} ({known}); nothing was sent.{hint}")
