"""What ``Workflow`` hands back: plans ready to apply or save, exports, imports, clones, validations.

Plain frozen data; the CLI renders them, a Python caller reads them. The modules they name load
only for type checkers, so ``validate`` (which returns ``Validated``) never loads HTTP or diff code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.thresholds import DEFAULT_THRESHOLDS, Thresholds

if TYPE_CHECKING:
    from reconciler.checks import Finding
    from reconciler.errors import Problem
    from reconciler.export import Export
    from reconciler.importer import Imported
    from reconciler.model import ChannelsFile, RemoteChannel
    from reconciler.plan import Plan
    from reconciler.policy import Finding as PolicyFinding
    from reconciler.probe import ProbeResult
    from reconciler.secrets import SecretDigests, Secrets
    from reconciler.selection import Unmatched
    from reconciler.target import Target


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
    unmatched: Unmatched = ()  # --only/--exclude patterns matching no change here (``Workflow.plan(strict=False)``)


@dataclass(frozen=True)
class Proposal:
    """A plan, what the plan checks say about it, and where it was saved (``Workflow.propose``)."""

    planned: Planned
    findings: tuple[Finding, ...] = ()
    saved: str | None = None


@dataclass(frozen=True)
class Validated:
    """A valid channels file: ``summary`` is the line ``validate`` prints; ``warnings`` stop nothing;
    ``findings`` are the policy's over every view checked (each once), at the level it gives them."""

    summary: str
    warnings: tuple[Problem, ...] = ()
    findings: tuple[PolicyFinding, ...] = ()


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


@dataclass(frozen=True)
class Sent:
    channel: RemoteChannel
    ticket_id: int
    message_id: int
