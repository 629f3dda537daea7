"""Copies between a tenant and a channels file: ``export`` (tenant -> file), ``clone`` (one tenant's
channels planned onto another) and ``import_`` (what the tenant has and the file lacks, into the file).

``Transfers`` is part of ``Workflow`` (it inherits it), as ``Validation`` and ``Messages`` are: the
methods live here so that the workflow's module stays readable; they use the workflow's ``load``,
``target``, ``read`` and ``plan_channels``, declared below for the type checker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.config import load_channels_file, load_settings
from reconciler.config.loader import Settings
from reconciler.errors import ImportConflict, OutputFileError, TargetError
from reconciler.filekinds import EXPORT, check_output, require_input
from reconciler.files import read_text, write_atomically
from reconciler.ignore import ignore_for, view_ignore
from reconciler.model import ChannelsFile, DesiredChannel, RemoteChannel, Tenant
from reconciler.policy import findings
from reconciler.results import Cloned, Exported, ImportedFile, Planned
from reconciler.thresholds import thresholds_of
from reconciler.wording import named
from reconciler.yamlread import no_cyclic_gc

if TYPE_CHECKING:
    from reconciler.export import Export
    from reconciler.plan import Plan
    from reconciler.target import Target


class Transfers:
    """Export, clone and import: the part of ``Workflow`` that copies channels between a tenant and a file."""

    environ: Mapping[str, str]

    if TYPE_CHECKING:  # the workflow's own methods, which these use

        def load(self, path: str | os.PathLike[str], *, tenant: str | None = None) -> ChannelsFile: ...

        def target(
            self, *, url: str | None = None, tenant: str | None = None, tenants: Mapping[str, Tenant] | None = None
        ) -> Target: ...

        def read(self, target: Target, ignore: Sequence[str] = ()) -> list[RemoteChannel]: ...

        def plan_channels(
            self,
            channels: Sequence[DesiredChannel],
            target: Target,
            *,
            prune: bool = False,
            rotate_secrets: bool = False,
            ignore: Sequence[str] = (),
        ) -> Plan: ...

    def check_export_output(
        self,
        path: str | os.PathLike[str],
        *,
        inputs: Sequence[str | None],
        force: bool = False,
        option: str | None = None,
    ) -> None:
        """Refuse, before any work, to write an export onto an input or a file of another kind."""
        check_output(path, kind=EXPORT, inputs=inputs, force=force, option=option)

    def write_export(
        self, exported: Exported, path: str | os.PathLike[str], *, option: str | None = None, force: bool = False
    ) -> None:
        """Write an export's channels file to ``path`` atomically (checked first by ``check_export_output``),
        and its tenant files beside it, each as its source's bytes (see ``tenant_copies``)."""
        copies = tenant_copies(exported.export, path, force=force)
        write_atomically(path, exported.export.text, option=option)
        for source, target in copies:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_atomically(target, Path(source).read_bytes(), option=option)

    def export(
        self, path: str | os.PathLike[str] | None = None, *, url: str | None = None, tenant: str | None = None
    ) -> Exported:
        """The tenant's custom channels as a channels file; with a file and a tenant, templated
        with that tenant's vars and keeping the file's ``tenants:`` limits. Channels the file
        ignores are left out, and its ``ignore:`` lists are written back."""
        settings = self.settings(path)
        tenants, ignore = settings.tenants, settings.ignore
        target = self.target(url=url, tenant=tenant, tenants=tenants)
        current = self.read(target, ignore_for(ignore, tenants.get(tenant) if tenant else None))
        return Exported(self._export(current, path, tenant, settings), target, sum(1 for c in current if c.is_custom))

    def settings(self, path: str | os.PathLike[str] | None) -> Settings:
        """The file's tenants, top-level ``ignore:`` patterns and tenant files (none without a file)."""
        if path is None:
            return Settings({}, ())
        require_input(path)
        return load_settings(path)

    def _export(
        self, current: list[RemoteChannel], path: str | os.PathLike[str] | None, tenant: str | None, settings: Settings
    ) -> Export:
        """The export; with tenant files, ``tenants:`` as the file names them and the files to copy."""
        from reconciler.export import export_channels

        tenants, sources = settings.tenants, settings.tenant_files
        spec = sources.spec if sources else None
        if path is None or tenant is None:
            export = export_channels(current, tenants=tenants, ignore=settings.ignore, tenants_from=spec)
        else:
            view = self.load(path, tenant=tenant)
            limited = {c.name: sorted(c.tenants) for c in view.channels if c.tenants is not None}
            export = export_channels(
                current,
                variables=tenants[tenant].vars,
                tenants=tenants,
                channel_tenants=limited,
                ignore=settings.ignore,
                tenants_from=spec,
            )
        return replace(export, tenant_files=sources.relative()) if sources else export

    def clone(self, path: str | os.PathLike[str], source: str, dest: str, *, prune: bool = False) -> Cloned:
        """Plan the source tenant's custom channels onto the destination tenant.

        The source's export (its var values turned into ``${var:NAME}``) is read as the destination
        sees it. Channels the file declares for the destination only are added to the desired
        state: the source cannot have them, so without this ``prune`` would delete them. What
        either tenant's view of the file ignores is neither copied nor touched on the destination.
        """
        if source == dest:
            raise TargetError(f"{named('source')} and {named('dest')} are both {source!r}: name two different tenants")
        settings = self.settings(path)
        tenants, ignore = settings.tenants, settings.ignore
        source_target = self.target(tenant=source, tenants=tenants)
        target = self.target(tenant=dest, tenants=tenants)
        dest_ignore = ignore_for(ignore, tenants.get(dest))
        current = self.read(source_target, ignore_for(ignore, tenants.get(source)) + dest_ignore)
        exported = Exported(
            self._export(current, path, source, settings), source_target, sum(1 for c in current if c.is_custom)
        )
        # beside the file: an export naming tenant files reads them where the file does
        desired = load_channels_file(
            os.path.join(os.path.dirname(os.fspath(path)), f"<export of {source}>"),
            tenant=dest,
            environ=self.environ,
            text=exported.export.text,
        )
        cloned = {c.name for c in desired.channels}
        dest_view = self.load(path, tenant=dest)
        own = [
            c for c in dest_view.channels if c.tenants is not None and source not in c.tenants and c.name not in cloned
        ]
        # The export knows no secret_version (the API has none): each copy keeps the one the file gives --to.
        versions = {c.name: c for c in dest_view.channels if c.secret_version is not None}
        copies = [_with_version(c, versions.get(c.name)) for c in desired.channels]
        wanted = copies + own
        plan = self.plan_channels(wanted, target, prune=prune, ignore=dest_ignore)
        from reconciler.secrets import Secrets

        view = replace(dest_view, channels=tuple(wanted))  # the destination's policy over what it gets
        plan = replace(plan, findings=findings(view))
        planned = Planned(
            plan,
            target,
            Secrets.from_channels(wanted),
            replace(desired, channels=tuple(wanted)),
            thresholds=thresholds_of(dest_view),
        )
        return Cloned(planned, exported)

    # -- import ----------------------------------------------------------------------------------

    # The tenant's channels, the edit's nodes and the reloaded file are all alive at once and hold
    # no cycles: each collection would walk them all again (~7% of a 10,000-channel import's CPU).
    @no_cyclic_gc()
    def import_(
        self,
        path: str | os.PathLike[str],
        *,
        url: str | None = None,
        tenant: str | None = None,
        names: Sequence[str] = (),
        update: bool = False,
    ) -> ImportedFile:
        """Add the tenant's custom channels the file lacks (only ``names`` when given) to the file,
        in place; with ``update``, also take the drift of its channels back. Reads the tenant only."""
        file = os.fspath(path)
        view = self.load(file, tenant=tenant)  # from disk first: its checks name a file that is unreadable
        text = read_text(file)
        target = self.target(url=url, tenant=tenant, tenants=view.tenants)
        current = self.read(target, view_ignore(view))
        from reconciler.importer import import_channels

        imported = import_channels(
            text,
            file=file,
            view=view,
            current=current,
            names=names,
            update=update,
            reload=lambda edited: load_channels_file(file, tenant=tenant, environ=self.environ, text=edited),
        )
        if imported.changed:
            if read_text(file) != text:
                raise ImportConflict("the file changed while importing: run import again", file=file)
            write_atomically(file, imported.text)
        return ImportedFile(imported, target, file)

    def import_update(self, path: str | os.PathLike[str], **options: Any) -> ImportedFile:
        """``import_`` that also writes the tenant's values of the file's drifted channels into the file."""
        return self.import_(path, update=True, **options)


def _with_version(copy: DesiredChannel, declared: DesiredChannel | None) -> DesiredChannel:
    """A cloned channel with the ``secret_version`` the file declares for it on the destination."""
    if declared is None or copy.secret is None:
        return copy
    return replace(copy, secret_version=declared.secret_version, secret_version_at=declared.secret_version_at)


def tenant_copies(export: Export, path: str | os.PathLike[str], *, force: bool = False) -> list[tuple[str, str]]:
    """(source, target) for each tenant file an export at ``path`` needs beside it, at the path the
    channels file gives it. The file it came from (an export beside the channels file) is left as it
    is; another file already there with other bytes is refused (``OutputFileError``) unless ``force``,
    before anything is written."""
    folder = os.path.dirname(os.path.abspath(path))
    copies = []
    for relative, source in sorted(export.tenant_files.items()):
        target = os.path.join(folder, relative)
        if os.path.exists(target) and os.path.samefile(target, source):
            continue
        if os.path.exists(target) and not force and Path(target).read_bytes() != Path(source).read_bytes():
            raise OutputFileError(
                f"{target} exists and is not {source}: the export names its tenant files as the channels file "
                f"does, and would replace it; export elsewhere, or add {named('force')} to replace it",
                path=target,
            )
        copies.append((source, target))
    return copies
