"""The plan: typed changes (create, update, delete) and the wire calls each makes, as immutable data.

Making a plan (``planning.py``: match, change, prune) never writes. The checks a plan must pass
before apply live in ``checks.py``; rendering lives in ``render.py``; saved plans in ``planfile.py``.

Secret rule (documented in docs/explanation/safety.md): ``custom_channel_secret`` is write-only on the server, so it
can never be compared. It is sent when a channel is created, and on an existing channel only when
``--rotate-secrets`` is given or its ``secret_version`` is above the recorded one (``secretversions.py``);
otherwise the server's secret is kept and nothing is sent for it.
A plan holds no secret values and no digests of them: a saved plan stores salted digests beside
the plan (``planfile.py``), and ``apply`` reads the values again (``secrets.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from reconciler import __version__
from reconciler.diff import FieldChange
from reconciler.endpoints import masked, masked_change
from reconciler.errors import PlanFileError
from reconciler.impact import Impact, impact_phrase, impacts
from reconciler.model import (
    CHANNEL_PATH,
    FIELDS,
    POST_FIELDS,
    PUT_ONLY_FIELDS,
    SECRET_FIELD,
    Baseline,
)
from reconciler.policy import Finding
from reconciler.selection import Selection

CREATE = "create"
UPDATE = "update"
DELETE = "delete"

PLAN_FORMAT_VERSION = 2
SENSITIVE = "(sensitive)"
NEW_ID = "new"  # the path segment of a call to the channel a POST of the same change creates

SECRET_SEND = "send"
SECRET_KEEP = "keep"


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping: plans are immutable all the way down."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._data) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def digest(data: Any) -> str:
    """The one digest of JSON-safe data: sha256 over canonical JSON (plans, saved plan files)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SecretAction:
    """What happens to a channel's secret; never holds the value."""

    action: str  # SECRET_SEND | SECRET_KEEP
    reason: str
    env_var: str | None = None  # None: the value is written in the file itself
    version: int | None = None  # the file's secret_version: recorded once the secret is sent
    previous_version: int | None = None  # the recorded one a rotation raises (secretversions.py)

    @property
    def sends(self) -> bool:
        return self.action == SECRET_SEND

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.env_var:
            data["env_var"] = self.env_var
        for key, value in (("secret_version", self.version), ("previous_secret_version", self.previous_version)):
            if value is not None:
                data[key] = value
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> SecretAction | None:
        if data is None:
            return None
        versions = (data.get("secret_version"), data.get("previous_secret_version"))
        return cls(data["action"], data["reason"], data.get("env_var"), *versions)


@dataclass(frozen=True)
class Call:
    """One request of a change: method, the channel it addresses, and the fields it sends.

    ``channel`` is an id, ``NEW_ID`` for the channel the change's POST creates, or None for the
    POST itself. The secret's value is never here: ``sends_secret`` says that apply adds it.
    """

    method: str
    channel: int | str | None
    fields: FrozenMap
    sends_secret: bool = False

    @property
    def path(self) -> str:
        return CHANNEL_PATH if self.channel is None else f"{CHANNEL_PATH}/{self.channel}"

    def to_data(self) -> dict[str, Any]:
        fields = masked(self.fields)
        if self.sends_secret:
            fields[SECRET_FIELD] = SENSITIVE
        return {"method": self.method, "path": self.path, "fields": fields}


@dataclass(frozen=True)
class Change:
    """A change to one channel; ``name`` is its name after the change (for a delete: its current)."""

    action: ClassVar[str]
    order: ClassVar[int]  # deletes first so names are freed before a create or rename reuses them

    name: str

    @property
    def channel_id(self) -> int | None:
        return None

    @property
    def sort_key(self) -> tuple[int, str, int]:
        return (self.order, self.name, self.channel_id or 0)

    def calls(self) -> tuple[Call, ...]:
        raise NotImplementedError

    def describe_calls(self) -> str:
        """How the change goes on the wire, in words: 'POST, then PUT of 2 fields'."""
        parts = []
        for call in self.calls():
            count = len(call.fields) + call.sends_secret
            if call.method == "PUT":
                parts.append(f"PUT of {count} field{'s' if count != 1 else ''}")
            else:
                parts.append(call.method)
        return ", then ".join(parts)

    def to_data(self) -> dict[str, Any]:
        return {"action": self.action, "name": self.name, "calls": [c.to_data() for c in self.calls()]}


@dataclass(frozen=True)
class Create(Change):
    """A new channel: a POST of the fields a POST takes, then a PUT of the PUT-only ones it needs."""

    action: ClassVar[str] = CREATE
    order: ClassVar[int] = 2

    after: FrozenMap = field(default_factory=FrozenMap)
    secret: SecretAction | None = None
    endpoint_env: FrozenMap = field(default_factory=FrozenMap)  # credential parameter -> its ${env:NAME}

    def calls(self) -> tuple[Call, ...]:
        wanted = {n: v for n, v in self.after.items() if n == "name" or v != FIELDS[n].default}
        sends_secret = self.secret is not None and self.secret.sends
        post = Call("POST", None, FrozenMap((n, wanted[n]) for n in POST_FIELDS if n in wanted), sends_secret)
        put_fields = [(n, wanted[n]) for n in PUT_ONLY_FIELDS if n in wanted]
        if not put_fields:
            return (post,)
        return (post, Call("PUT", NEW_ID, FrozenMap(put_fields)))

    def to_data(self) -> dict[str, Any]:
        data = super().to_data()
        data["after"] = masked(self.after)
        if self.secret is not None:
            data["secret"] = self.secret.to_data()
        if self.endpoint_env:
            data["endpoint_env"] = dict(self.endpoint_env)
        return data


@dataclass(frozen=True)
class Update(Change):
    """A PUT of the fields that differ (PUT is partial), and the secret on rotation."""

    action: ClassVar[str] = UPDATE
    order: ClassVar[int] = 1

    id: int = 0
    before: FrozenMap = field(default_factory=FrozenMap)
    after: FrozenMap = field(default_factory=FrozenMap)
    fields: tuple[FieldChange, ...] = ()
    secret: SecretAction | None = None
    renamed_from: str | None = None
    endpoint_env: FrozenMap = field(default_factory=FrozenMap)  # credential parameter -> its ${env:NAME}

    @property
    def channel_id(self) -> int:
        return self.id

    def calls(self) -> tuple[Call, ...]:
        sends_secret = self.secret is not None and self.secret.sends
        return (Call("PUT", self.id, FrozenMap((f.field, f.after) for f in self.fields), sends_secret),)

    def to_data(self) -> dict[str, Any]:
        data = super().to_data()
        data["id"] = self.id
        if self.renamed_from is not None:
            data["renamed_from"] = self.renamed_from
        data["before"] = masked(self.before)
        data["after"] = masked(self.after, self.before)
        if self.fields:
            data["fields"] = [{"field": f.field, **masked_change(f.field, f.before, f.after)} for f in self.fields]
        if self.secret is not None:
            data["secret"] = self.secret.to_data()
        if self.endpoint_env:
            data["endpoint_env"] = dict(self.endpoint_env)
        return data


@dataclass(frozen=True)
class Delete(Change):
    """A DELETE of a custom channel the file does not list (prune only)."""

    action: ClassVar[str] = DELETE
    order: ClassVar[int] = 0

    id: int = 0
    before: FrozenMap = field(default_factory=FrozenMap)

    @property
    def channel_id(self) -> int:
        return self.id

    def calls(self) -> tuple[Call, ...]:
        return (Call("DELETE", self.id, FrozenMap()),)

    def to_data(self) -> dict[str, Any]:
        data = super().to_data()
        data["id"] = self.id
        data["before"] = masked(self.before)
        return data


CHANGE_TYPES: dict[str, type[Change]] = {CREATE: Create, UPDATE: Update, DELETE: Delete}


def change_from_data(data: Mapping[str, Any]) -> Change:
    """Rebuild a typed change from its JSON data (already checked against plan.schema.json)."""
    action = data.get("action")
    if action == CREATE:
        return Create(
            data["name"],
            after=FrozenMap(data["after"]),
            secret=SecretAction.from_data(data.get("secret")),
            endpoint_env=FrozenMap(data.get("endpoint_env", {})),
        )
    if action == UPDATE:
        return Update(
            data["name"],
            id=int(data["id"]),
            before=FrozenMap(data["before"]),
            after=FrozenMap(data["after"]),
            fields=tuple(FieldChange(f["field"], f["before"], f["after"]) for f in data.get("fields", ())),
            secret=SecretAction.from_data(data.get("secret")),
            renamed_from=data.get("renamed_from"),
            endpoint_env=FrozenMap(data.get("endpoint_env", {})),
        )
    if action == DELETE:
        return Delete(data["name"], id=int(data["id"]), before=FrozenMap(data["before"]))
    raise PlanFileError(f"unknown change action {action!r} (known: {', '.join(CHANGE_TYPES)})")


@dataclass(frozen=True)
class Plan:
    """What would change on one tenant; sorted, immutable and JSON-safe (``to_data``)."""

    changes: tuple[Change, ...]
    unmanaged: tuple[str, ...] = ()  # custom channels not in the file, left alone (prune off)
    custom_total: int = 0  # custom channels on the tenant when planned
    prune: bool = False
    rotate_secrets: bool = False
    target: str = ""
    missing_secrets: FrozenMap = field(default_factory=FrozenMap)  # env var -> tuple of channels
    findings: tuple[Finding, ...] = ()  # what the policy says of the file's channels (policy.py)
    partial: Selection | None = None  # --only/--exclude: the changes of the other channels were left out
    # (date, file) when planned against a committed snapshot, not the live tenant (snapshot.py)
    snapshot: tuple[str, str] | None = None
    baselines: tuple[Baseline, ...] = ()  # secret_version without a record: recorded by apply, nothing sent

    @property
    def basis(self) -> str:
        """'' for the live tenant; else what every rendering says first: it is not the live tenant."""
        if self.snapshot is None:
            return ""
        date, file = self.snapshot
        return f"Planned against the snapshot of {date} ({file}), not the live tenant"

    def of_type(self, kind: type[Change]) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if isinstance(c, kind))

    @property
    def creates(self) -> tuple[Create, ...]:
        return self.of_type(Create)  # type: ignore[return-value]

    @property
    def updates(self) -> tuple[Update, ...]:
        return self.of_type(Update)  # type: ignore[return-value]

    @property
    def deletes(self) -> tuple[Delete, ...]:
        return self.of_type(Delete)  # type: ignore[return-value]

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def sent_secrets(self) -> tuple[Change, ...]:
        """The changes that send a secret (creates, and updates with --rotate-secrets)."""
        return tuple(c for c in self.changes if getattr(c, "secret", None) is not None and c.secret.sends)  # type: ignore[attr-defined]

    @property
    def impact(self) -> tuple[Impact, ...]:
        return impacts(self)

    def summary(self) -> str:
        """'Plan: high impact: 'Old fax' deleted. 0 to create, 0 to update, 1 to delete': impact first."""
        phrase = impact_phrase(self.impact)
        partial = f" (partial: {self.partial.describe()})" if self.partial else ""
        return (
            f"Plan{partial}: "
            + (f"{phrase}. " if phrase else "")
            + f"{len(self.creates)} to create, {len(self.updates)} to update, {len(self.deletes)} to delete"
        )

    def to_data(self) -> dict[str, Any]:
        """JSON-safe, deterministic, secret-free (``plan.schema.json``); ``from_data`` reads it back."""
        data: dict[str, Any] = {
            "format_version": PLAN_FORMAT_VERSION,
            "tool_version": __version__,
            "target": self.target,
            "prune": self.prune,
            "rotate_secrets": self.rotate_secrets,
            "custom_total": self.custom_total,
            "summary": {"create": len(self.creates), "update": len(self.updates), "delete": len(self.deletes)},
            "changes": [c.to_data() for c in self.changes],
            "unmanaged": list(self.unmanaged),
            "missing_secrets": {k: list(v) for k, v in sorted(self.missing_secrets.items())},
            "impact": [i.to_data() for i in self.impact],
            "findings": [f.to_data() for f in self.findings],
            **({"snapshot": {"date": self.snapshot[0], "file": self.snapshot[1]}} if self.snapshot else {}),
        }
        if self.partial:  # only then: a whole plan's data, and so its digest, stay as they were
            data["partial"] = self.partial.to_data()
        if self.baselines:  # likewise
            data["secret_version_baselines"] = [b.to_data() for b in self.baselines]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        """The plan of ``to_data`` (a saved plan's data is checked against plan.schema.json first)."""
        return cls(
            changes=tuple(change_from_data(c) for c in data["changes"]),
            unmanaged=tuple(data["unmanaged"]),
            custom_total=data["custom_total"],
            prune=data["prune"],
            rotate_secrets=data["rotate_secrets"],
            target=data["target"],
            missing_secrets=FrozenMap((k, tuple(v)) for k, v in data["missing_secrets"].items()),
            findings=tuple(Finding.from_data(f) for f in data.get("findings", ())),
            partial=Selection.from_data(data.get("partial")),
            snapshot=(data["snapshot"]["date"], data["snapshot"]["file"]) if "snapshot" in data else None,
            baselines=tuple(Baseline.from_data(b) for b in data.get("secret_version_baselines", ())),
        )

    def digest(self) -> str:
        """A hash of the plan's data: a saved plan is applied only if it still hashes the same."""
        return digest(self.to_data())
