"""What a code forge (GitHub, GitLab) gives the shared CI flow, as one protocol.

``reconciler.ci.flow`` plans, checks drift and applies through a ``Forge``; ``reconciler.ci.github``
and ``reconciler.ci.gitlab`` implement it over their REST APIs and their runners' environments.
Adding a forge is one module that implements this protocol, plus its fake-server test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.snapshot import Snapshot


@dataclass(frozen=True)
class Request:
    """A merged pull request (GitHub) or merge request (GitLab): its number and its head commit."""

    number: int
    head: str
    url: str = ""
    sigil: str = "#"  # how the forge writes a reference to it: GitHub's #7, GitLab's !7

    def __str__(self) -> str:
        return f"{self.sigil}{self.number}"


@dataclass(frozen=True)
class Issue:
    """An open issue the drift check keeps (found again by the marker its body starts with)."""

    number: int
    body: str
    url: str = ""


class Forge(Protocol):
    """One forge and one CI run: comments, the run's summary and outputs, issues, reviewed plans."""

    name: str  # "GitHub", "GitLab": in messages
    request_word: str  # "pull request", "merge request"

    def close(self) -> None: ...

    # -- what the run reports --------------------------------------------------------------------
    def request_number(self) -> int | None:
        """The pull/merge request this run plans, or None outside one."""

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create the request's comment that starts with ``marker`` or update it; what was done, and where."""

    def summary(self, markdown: str) -> None:
        """Add to the run's summary (GitHub's job summary; GitLab's job log)."""

    def outputs(self, **values: str) -> None:
        """Set the run's outputs (GitHub's step outputs; a dotenv report on GitLab)."""

    def group(self, title: str, text: str) -> str:
        """``text`` as a collapsible section of the job log."""

    def annotation(self, level: str, message: str, title: str) -> str:
        """A warning or error the forge shows on the run (a log line elsewhere)."""

    # -- a fork's request: no secrets, a read-only token --------------------------------------------
    def from_fork(self) -> bool:
        """Whether this run plans a request from a fork (it holds no key and cannot comment)."""

    def snapshot(self, path: str) -> Snapshot | None:
        """The committed snapshot at ``path`` on the branch the request targets, with the date of
        the commit that last changed it; None when the branch has none."""

    # -- drift issues ----------------------------------------------------------------------------
    def drift_issues(self) -> list[Issue]:
        """The open issues labelled as drift reports."""

    def open_issue(self, title: str, body: str) -> Issue: ...

    def update_issue(self, issue: Issue, body: str) -> None: ...

    def close_issue(self, issue: Issue, note: str) -> None: ...

    def drift_state(self, folder: Path) -> Path | None:
        """The drift state file (``reconciler.ci.driftcount``) that the previous drift job of this
        pipeline kept as its artifact, unpacked into ``folder``; None when there is none."""

    def secret_versions(self, folder: Path) -> Path | None:
        """The secret-version record (``reconciler.ci.secretrecord``) that the newest earlier apply on
        the protected branch kept as its artifact, unpacked into ``folder``; None when there is none."""

    # -- applying on the protected branch ----------------------------------------------------------
    def protected_commit(self) -> str:
        """The run's commit, after making sure the run is on the protected branch (``CiError`` if not)."""

    def last_applied(self) -> str | None:
        """The commit of the last successful apply of this pipeline, or None before the first."""

    def commits_since(self, base: str | None, head: str) -> list[str] | None:
        """The commits ``head`` adds to ``base`` (all of ``head``'s own when ``base`` is None);
        None when ``head`` is behind ``base`` (an older run, started again after a newer one)."""

    def merged_requests(self, commit: str) -> list[Request]:
        """The requests merged into the protected branch that brought ``commit`` there."""

    def reviewed_plans(self, request: Request, folder: Path) -> list[Path]:
        """The saved plans of the request's last successful plan at its head, unpacked into
        ``folder`` (one ``TENANT.json`` each); empty when no such plan exists."""
