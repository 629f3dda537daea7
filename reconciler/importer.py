"""Import: the tenant's custom channels into an existing channels file, and drift back into it.

``import`` adds the custom channels the tenant has and the file does not, templated as ``export``
templates them (the tenant's var values as ``${var:NAME}``, a unique ``${env:...}`` placeholder
per secret). ``--update`` also writes the fields of managed channels that differ on the tenant
into the file, so the plan afterwards is empty. Both edit the file in place (``yamledit``): what
is not added or changed stays byte for byte.

Rules, so nothing surprising lands in a file others share:
    * in a file with tenants, an imported channel gets ``tenants: [THIS]``: it changes no other
      tenant's plan until someone removes the list;
    * a value written literally stays literal; a templated or missing one is templated with the
      tenant's vars (``https://${var:host}/x`` drifting to ``.../y`` becomes ``https://${var:host}/y``);
    * a field at its default on the tenant and absent from the file stays absent;
    * a field the file reads from ``${env:...}`` is not rewritten: the variable is what differs;
    * the name is identity: a channel renamed in the UI is a new channel, and a rename the file
      asks for (``previous_names``) is not drift;
    * secrets are never read (the API does not return them) and never written.
Nothing here reads the tenant, the environment or a file: the caller passes the file's text, its
loaded view and the tenant's channels (ignored ones already left out), and writes the result.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.diff import FieldChange, diff_fields
from reconciler.endpoints import ENDPOINT_FIELD, mask_endpoint
from reconciler.errors import EditError, ImportConflict, UnknownChannelError
from reconciler.export import (
    FILE_ORDER,
    Templater,
    endpoint_placeholders,
    endpoint_vars,
    export_item,
    in_file_order,
    secret_placeholders,
)
from reconciler.ignore import matching_pattern, view_ignore
from reconciler.model import SECRET_FIELD, ChannelsFile, DesiredChannel, RemoteChannel
from reconciler.plan import Update
from reconciler.planning import make_plan
from reconciler.wording import named
from reconciler.yamledit import MappingNode, SequenceNode, YamlEditor

_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Added:
    name: str  # as on the tenant
    secret_var: str  # the ${env:...} placeholder written for its secret
    tenants: tuple[str, ...] | None = None  # the tenants: list written, if any


@dataclass(frozen=True)
class Updated:
    name: str
    fields: tuple[FieldChange, ...]  # before: what the file gave, after: the tenant's value
    shared_with: tuple[str, ...] = ()  # other tenants whose desired state changes with it


@dataclass(frozen=True)
class Imported:
    text: str  # the file's new text (the same text when nothing changed)
    added: tuple[Added, ...] = ()
    updated: tuple[Updated, ...] = ()
    notes: tuple[str, ...] = ()  # drift --update leaves alone, and why
    replacements: Mapping[str, int] = field(default_factory=dict)  # var name -> occurrences templated
    skipped_vars: tuple[str, ...] = ()
    left_literal: Mapping[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    @property
    def endpoint_vars(self) -> list[str]:
        """The variables of the endpoint credentials written as placeholders (as ``Export.endpoint_vars``)."""
        return endpoint_vars(self.text) if self.changed else []

    @property
    def secret_vars(self) -> dict[str, str]:
        """Added channel -> its secret's variable (as ``Export.secret_vars``)."""
        return {a.name: a.secret_var for a in self.added}


def import_channels(
    text: str,
    *,
    file: str,
    view: ChannelsFile,
    current: Sequence[RemoteChannel],
    names: Sequence[str] = (),
    update: bool = False,
    reload: Callable[[str], ChannelsFile],
) -> Imported:
    """The file's text with the tenant's missing channels added (and, with ``update``, drift taken
    back); only the channels in ``names`` when given. ``view`` is the file loaded for the tenant,
    ``current`` the tenant's channels without the ignored ones. ``reload`` loads a text as ``view``
    was loaded: the result is checked to plan no change for what was imported before it is returned.
    """
    if view.tenants and view.tenant is None:
        raise ImportConflict(
            f"the file defines tenants: pass {named('tenant')} NAME, so imported channels are "
            "templated with its vars and limited to it",
            file=file,
        )
    custom = _custom_by_name(current)
    in_file = {c.name: c for c in view.channels}
    renamed = {old: c for c in view.channels for old in c.previous_names}
    notes: list[str] = []
    addable = [name for name in sorted(custom) if name not in in_file and name not in renamed]
    drifted = _drifted(view, custom, notes) if update else {}
    if names:
        _check_names(names, file, view, current, addable, in_file, renamed, update)
        addable = [n for n in addable if n in names]
        drifted = {n: d for n, d in drifted.items() if n in names}
    addable = _unique(addable, custom, notes)
    variables = view.tenants[view.tenant].vars if view.tenant else {}
    template = Templater(variables)
    added: list[Added] = []
    updated: list[Updated] = []
    edited = text
    if addable or drifted:  # composing a large file costs: a no-op import never does
        editor = YamlEditor(text, file=file)
        added = _add(editor, template, [custom[n][0] for n in addable], text, view)
        updated = [u for u in (_update(editor, template, view, *drifted[n], notes) for n in sorted(drifted)) if u]
        edited = editor.text()
    result = Imported(
        text=edited,
        added=tuple(added),
        updated=tuple(updated),
        notes=tuple(notes),
        replacements=dict(sorted(template.counts.items())),
        skipped_vars=tuple(template.skipped),
        left_literal=dict(sorted(template.literal.items())),
    )
    if result.changed:
        _check_round_trip(result, reload(result.text), current, file)
    return result


def _custom_by_name(current: Sequence[RemoteChannel]) -> dict[str, list[RemoteChannel]]:
    custom: dict[str, list[RemoteChannel]] = {}
    for channel in current:
        if channel.is_custom:
            custom.setdefault(channel.name, []).append(channel)
    return custom


Drift = tuple[DesiredChannel, RemoteChannel, tuple[FieldChange, ...]]


def _drifted(view: ChannelsFile, custom: Mapping[str, list[RemoteChannel]], notes: list[str]) -> dict[str, Drift]:
    """The file's channels whose fields differ on the tenant; a note for each one the tenant lacks."""
    drifted: dict[str, Drift] = {}
    for want in view.channels:
        have = custom.get(want.name, [])
        if len(have) == 1:
            changes = diff_fields(want.fields, have[0].fields)
            if changes:
                drifted[want.name] = (want, have[0], changes)
        elif not have:
            olds = [old for old in want.previous_names if old in custom]
            notes.append(
                f"{want.name!r}: the rename from {olds[0]!r} is still to be applied; not taken back"
                if olds
                else f"{want.name!r} is not on the tenant (apply would create it); left in the file"
            )
    return drifted


def _unique(addable: list[str], custom: Mapping[str, list[RemoteChannel]], notes: list[str]) -> list[str]:
    """The names the tenant holds once; a note for each it holds more than once (none imported)."""
    for name in addable:
        if len(custom[name]) > 1:
            ids = ", ".join(str(c.id) for c in custom[name])
            notes.append(
                f"{name!r}: the tenant has {len(custom[name])} custom channels of that name (ids {ids}); "
                "none imported: rename all but one in Omnidesk"
            )
    return [n for n in addable if len(custom[n]) == 1]


def _check_names(
    names: Sequence[str],
    file: str,
    view: ChannelsFile,
    current: Sequence[RemoteChannel],
    addable: list[str],
    in_file: Mapping[str, DesiredChannel],
    renamed: Mapping[str, DesiredChannel],
    update: bool,
) -> None:
    """Every --name must be a channel this import can add or update; say what it is otherwise."""
    builtin = {c.name: c for c in current if not c.is_custom}
    for name in names:
        if name in addable or (update and name in in_file):
            continue
        pattern = matching_pattern(name, view_ignore(view))
        if name in in_file or name in renamed:
            owner = in_file.get(name) or renamed[name]
            line = f" (line {owner.line})" if owner.line else ""
            message = f"{name!r} is already in the file{line}: pass {named('update')} to take its changes back"
            if name in renamed:
                message = f"{name!r} is a previous name of {owner.name!r}{line}, which apply renames"
            raise UnknownChannelError(message, name=name, file=file)
        if pattern is not None:
            raise UnknownChannelError(
                f"{name!r} matches the ignore pattern {pattern!r}: the file does not "
                "manage it; remove the pattern to import it",
                name=name,
                file=file,
            )
        if name in builtin:
            raise UnknownChannelError(
                f"{name!r} is a built-in channel (type {builtin[name].type}): only custom channels can be managed",
                name=name,
                file=file,
            )
        known = addable + (list(in_file) if update else [])
        guess = difflib.get_close_matches(name, known, n=1)
        listed = ", ".join(repr(n) for n in known[:20]) or "none"
        raise UnknownChannelError(
            f"no custom channel {name!r} to import on the tenant (importable: {listed})",
            name=name,
            guess=guess[0] if guess else None,
            file=file,
        )


def _add(
    editor: YamlEditor, template: Templater, channels: list[RemoteChannel], text: str, view: ChannelsFile
) -> list[Added]:
    """Append the channels to the file's list, in export's form; placeholders no file secret uses."""
    if not channels:
        return []
    items = [export_item(c, template) for c in channels]
    placeholders = secret_placeholders((i["name"] for i in items), taken=set(_ENV_REFERENCE.findall(text)))
    limited = (view.tenant,) if view.tenant and view.tenants else None
    order = sorted(range(len(items)), key=lambda i: (items[i]["name"], channels[i].name))
    added: list[Added] = []
    written: list[dict[str, Any]] = []
    for i in order:
        item = items[i]
        item[SECRET_FIELD] = f"${{env:{placeholders[item['name']]}}}"
        if limited:
            item["tenants"] = list(limited)
        written.append(in_file_order(item))
        added.append(Added(channels[i].name, placeholders[item["name"]], limited))
    key, sequence = _channels_node(editor)
    editor.append_items(sequence, key.start_mark.column, written)
    return added


def _update(
    editor: YamlEditor,
    template: Templater,
    view: ChannelsFile,
    want: DesiredChannel,
    have: RemoteChannel,
    changes: tuple[FieldChange, ...],
    notes: list[str],
) -> Updated | None:
    """Write the tenant's value of each drifted field into the channel's entry.

    A field the file reads from the environment (``${env:...}``) is left as it is, with a note:
    the variable, not the file, is what differs from the tenant.
    """
    item = _item_at(editor, want)
    literal = Templater({})  # only escapes a "${" in the value
    taken: list[FieldChange] = []
    for change in changes:
        value = change.after
        written = editor.value(item, change.field)
        source = str(written.value) if written is not None and isinstance(value, str) else None
        if source is not None and "${env:" in source:
            shown = mask_endpoint(value) if change.field == ENDPOINT_FIELD else value
            notes.append(
                f"{want.name!r}: {change.field} comes from {source!r}, which differs from the tenant "
                f"({shown!r}); not taken back: change the variable or the file"
            )
            continue
        if isinstance(value, str):
            value = literal(value) if source is not None and "${var:" not in source else template(value)
        if change.field == ENDPOINT_FIELD:  # a credential goes into the file as ${env:...}, never as itself
            value = endpoint_placeholders(value, want.name)
        position = FILE_ORDER.index(change.field)
        after = ["name", "previous_names", *FILE_ORDER[1:position]]
        editor.set_value(item, change.field, value, after=after)
        taken.append(change)
    if not taken:
        return None
    others = tuple(t for t in (want.tenants or view.tenants) if t != view.tenant)
    return Updated(want.name, tuple(taken), others)


def _channels_node(editor: YamlEditor) -> tuple[Any, SequenceNode]:
    for key, value in editor.root.value:
        if getattr(key, "value", None) == "channels" and isinstance(value, SequenceNode):
            return key, value
    raise EditError("the file has no `channels:` list to add to", file=editor.file)


def _item_at(editor: YamlEditor, want: DesiredChannel) -> MappingNode:
    """The entry of ``want`` in the file: the channel mapping that starts on its line."""
    _, sequence = _channels_node(editor)
    found = [item for item in sequence.value if isinstance(item, MappingNode) and editor.line_of(item) == want.line]
    if len(found) != 1:
        raise EditError(
            f"cannot tell which entry on line {want.line} is {want.name!r}: write one channel per `- name: ...` block",
            file=editor.file,
            line=want.line,
        )
    return found[0]


def _check_round_trip(result: Imported, reloaded: ChannelsFile, current: Sequence[RemoteChannel], file: str) -> None:
    """The edited file must plan no change for anything imported: else it is not written."""
    touched = {a.name for a in result.added} | {u.name for u in result.updated}
    wanted = [c for c in reloaded.channels if c.name in touched]
    plan = make_plan(wanted, current)
    # what --update wrote must match; a field it left alone (from ${env:...}) may still differ
    written = {(u.name, c.field) for u in result.updated for c in u.fields}
    left = sorted(
        {
            c.name
            for c in plan.changes
            if not isinstance(c, Update) or any((c.name, f.field) in written for f in c.fields)
        }
    )
    if left or len(wanted) != len(touched):
        missing = sorted(touched - {c.name for c in wanted})
        raise EditError(
            "the edited file would not match the tenant for "
            + ", ".join(repr(n) for n in left + missing)
            + " (a bug in import: please report it with the file)",
            file=file,
        )
