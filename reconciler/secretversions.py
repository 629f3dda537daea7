"""The secret-version record: the ``secret_version`` last applied to each channel of each tenant.

Omnidesk never returns a secret and has no field that could carry a version back, so, as Terraform
keeps a write-only argument's ``*_wo_version`` in its state, the tool keeps the version it last
applied in a file of its own (``RECORD_FILE`` in the working folder, or ``--secret-versions PATH``,
or ``OMNIDESK_SECRET_VERSIONS``). A plan sends a channel's secret again when the file's
``secret_version`` is above the recorded one ("secret rotated: secret_version 1 → 2").

* Keyed by the tenant's URL (where the secret lives) and the channel's id (a rename keeps it).
* Written only by apply, and only for the channels whose write succeeded: a failed or interrupted
  write leaves the old version, so the next plan shows the rotation again.
* No record for a channel (the first run, a channel that just got ``secret_version``, or a record
  that was lost): nothing is sent; the plan says so, and apply records the file's version as it is
  (a ``model.Baseline`` in the plan). Missing is never a reason to rotate, as in Terraform.
* A version below the recorded one is refused before anything is read back or written.
* The file holds tenant URLs, channel ids, names and versions: never a secret, never a key.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import FileWriteError, StateFileError
from reconciler.files import write_atomically
from reconciler.model import Recorded
from reconciler.wording import named

if TYPE_CHECKING:
    from reconciler.apply import ApplyReport
    from reconciler.plan import Plan
    from reconciler.results import Planned
    from reconciler.target import Target

RECORD_FILE = ".omnidesk-secret-versions.json"
RECORD_ENV = "OMNIDESK_SECRET_VERSIONS"
FORMAT_VERSION = 1
MAX_RECORD_BYTES = 16 * 1024 * 1024  # tens of thousands of channels; a bigger file is not one we wrote
_WRITING = threading.Lock()  # tenants applied in threads of one process share the file


def record_path(environ: Mapping[str, str], given: str | os.PathLike[str] | None = None) -> str:
    """Where the record is: ``given``, else ``OMNIDESK_SECRET_VERSIONS``, else ``RECORD_FILE``."""
    return os.fspath(given) if given else environ.get(RECORD_ENV) or RECORD_FILE


def tenant_key(target: Target) -> str:
    """The tenant as the record names it: its URL, or the local emulator's state file."""
    if target.url:
        return target.url.rstrip("/")
    return "local:" + os.path.abspath(target.local_state or "")


def read_record(path: str) -> dict[str, dict[int, tuple[str, int]]]:
    """Every tenant's versions in the record (tenant -> id -> (name, version)); none when it does not exist."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StateFileError(f"the secret-version record {path} cannot be read: {exc.strerror or exc}") from None
    try:
        if len(raw) > MAX_RECORD_BYTES:
            raise ValueError("too large")
        return _parsed(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StateFileError(
            f"the secret-version record {path} is damaged ({exc}): restore it, or remove it to record the "
            "file's secret_version values at the next apply without sending any secret"
        ) from None


def _parsed(data: Any) -> dict[str, dict[int, tuple[str, int]]]:
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a format_version {FORMAT_VERSION} record of this tool")
    tenants: dict[str, dict[int, tuple[str, int]]] = {}
    for tenant, channels in dict(data["tenants"]).items():
        kept: dict[int, tuple[str, int]] = {}
        for channel_id, entry in dict(channels).items():
            version = entry["secret_version"]
            if type(version) is not int or version < 1 or not str(channel_id).isdigit():
                raise ValueError(f"channel {str(channel_id)[:20]!r} of {str(tenant)[:80]!r}")
            kept[int(channel_id)] = (str(entry["name"]), version)
        tenants[str(tenant)] = kept
    return tenants


def recorded(path: str, target: Target) -> Recorded:
    """The versions recorded for ``target`` (channel id -> version)."""
    channels = read_record(path).get(tenant_key(target), {})
    return Recorded({channel_id: version for channel_id, (_, version) in channels.items()}, path)


def applied_versions(plan: Plan, report: ApplyReport | None) -> dict[int, tuple[str, int]]:
    """What an apply leaves to record: the plan's baselines, and the version of each channel whose
    secret went out (a create whose POST landed, an update done); never those that failed."""
    from reconciler.apply import INCOMPLETE, OK
    from reconciler.plan import Create

    updates = {b.id: (b.name, b.version) for b in plan.baselines}
    for outcome in report.outcomes if report is not None else ():
        secret = getattr(outcome.change, "secret", None)
        if secret is None or secret.version is None or outcome.channel_id is None:
            continue
        # An incomplete create is a POST that landed (the secret went with it) and a later PUT that failed.
        landed = outcome.status == OK or (outcome.status == INCOMPLETE and isinstance(outcome.change, Create))
        if landed and secret.sends:
            updates[outcome.channel_id] = (outcome.change.name, secret.version)
    return updates


def write_record(path: str, target: Target | None, updates: Mapping[int, tuple[str, int]]) -> None:
    """Merge ``updates`` (channel id -> (name, version)) into the record of ``target``; the rest stays.
    ``target`` None: only make sure the record exists (a CI job keeps it as its artifact)."""
    if not updates and target is not None:
        return
    with _WRITING:
        tenants = read_record(path)
        if target is not None:
            tenants.setdefault(tenant_key(target), {}).update(updates)
        data = {
            "format_version": FORMAT_VERSION,
            "tenants": {
                tenant: {str(i): {"name": name, "secret_version": v} for i, (name, v) in sorted(kept.items())}
                for tenant, kept in sorted(tenants.items())
            },
        }
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileWriteError(f"cannot create the folder of {path}: {exc.strerror}", path=path) from None
        write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", option=named("secret_versions"))


def uses_versions(channels: Iterable[Any]) -> bool:
    """Whether any channel names a ``secret_version``: only then is the record read at all."""
    return any(getattr(c, "secret_version", None) is not None for c in channels)


class VersionRecords:
    """The part of ``Workflow`` that keeps the record: where it is, and what an apply leaves in it."""

    environ: Mapping[str, str]
    secret_versions: str | None  # the record's path; None: ``record_path``'s default

    @property
    def record_path(self) -> str:
        """The secret-version record this workflow reads and writes."""
        return record_path(self.environ, self.secret_versions)

    def keep_versions(self, planned: Planned, report: ApplyReport | None = None) -> int:
        """Record the secret versions an apply (``report``) sent, and the plan's baselines; how many.
        A plan without changes is not applied, but its baselines are recorded (no call is made)."""
        kept = applied_versions(planned.plan, report)
        write_record(self.record_path, planned.target, kept)
        return len(kept)
