"""Every error this package raises on purpose (the one errors module: its tree makes it ~400 lines).

As httpx does: the parents (marked *) are never raised, only the leaves; catch a parent to catch
its leaves (tests/test_library.py checks every exception class and every raise against this tree).

    ReconcilerError *               base: the CLI catches this one and prints ``Error: <message>``
    ├── ConfigError                 the channels file is wrong; carries every Problem found at once
    ├── ApiError *                  the Omnidesk API refused or failed a call (carries call + status)
    │   ├── AuthenticationError     401: the API key was refused
    │   ├── PermissionDenied        403: the key lacks a permission (names it and the call)
    │   ├── FieldRejected           400: the server refused a field value (names the field)
    │   ├── NotFound                404: the channel id does not exist
    │   ├── TransientApiError       429 / 502 / 503 / 504 / connection trouble, retries used up
    │   ├── ConnectionFailed        the call could not be made, and retrying would not help (DNS, TLS, a bad URL)
    │   ├── RedirectRefused         3xx: redirects are never followed (the key would go along)
    │   ├── UnexpectedStatus        another error status, one the contract does not name
    │   └── ProtocolError           the answer is not the contract's JSON (HTML, truncated, wrong envelope)
    ├── AnswerTooLarge *            answers passed a size limit (the client turns it into a ProtocolError)
    │   ├── BodyTooLarge            one answer passed the limit for one body
    │   └── BudgetSpent             the answers of one list read passed the limit they share
    ├── PlanError *                 no safe plan can be made or applied
    │   ├── ConflictError           ambiguous state: duplicate names, a rename onto a taken name, ...
    │   ├── UnsafePlanError         too many deletes without --allow-deletes
    │   ├── StalePlanError          a saved plan no longer matches the tenant
    │   ├── PolicyDenied            a policy rule at deny level refuses the plan (names rule and channel)
    │   ├── SecretMissingError      secrets that would be sent are not set in the environment
    │   ├── SecretInFile            a plan to save sends a secret or endpoint credential written in the file
    │   ├── UnmatchedPatternError   an --only/--exclude pattern matches no change of the plan (names each)
    │   └── PlanRefused             a plan check denied the plan (carries every denying finding)
    ├── FileError *                 a file given or to write cannot be used (carries path)
    │   ├── PlanFileError           a saved plan cannot be read, is damaged, or is not a plan
    │   ├── InputFileError          a file given is missing, a folder, or not the kind the command takes
    │   ├── OutputFileError         an output would overwrite an input or another kind of file
    │   └── FileWriteError          a plan, export or state file cannot be written
    ├── TargetError                 no usable tenant: unknown tenant, unset key variable, refused URL or host
    ├── StateFileError              the emulator's state file or journal cannot be read or is locked
    ├── EmulatorNotStarted          the emulator's HTTP server did not start
    ├── CiError                     a CI integration cannot run: not in that CI (names the variables), or its API failed
    ├── ImportRefused *             import cannot do what was asked; nothing was written (carries file, line)
    │   ├── ImportConflict          the file defines tenants and none was named, or it changed meanwhile
    │   ├── EditError               the file cannot be changed in place without touching what it must keep
    │   └── UnknownChannelError     an --name that names no channel to import (carries the name, a guess)
    ├── InitError                   ``init`` wrote nothing: its files exist, or cannot be written (carries the paths)
    ├── SendRefused                 no single custom channel to push a message into: none, several, or built-in
    ├── NotConfirmed                apply was not confirmed: no terminal to ask and no --yes, or the answer was no
    └── ApplyError *                some operations of an apply failed (each outcome is listed)
        ├── OperationsFailed        operations failed; the others were done
        └── KeyCannotWrite          a write was refused (403): apply stopped; names the permission and variable

Outside the tree, never reaching a caller: ``caller.Uncertain`` (``client`` resolves it), ``emulator.forms.
BodyError`` (a 400/413 answer), ``emulator.routes.Refusal`` (the emulator's error answers), private ``_...``
classes. Misused code raises ``ValueError`` (as the stdlib).

Messages never contain an API key or a secret value: errors are built from field names, ids and
channel names only, and the client redacts the key from anything it wraps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from reconciler.folding import failure_lines
from reconciler.problems import MESSAGE_CHARS, SHOWN_PROBLEMS, Problem, fold, left_out, repeats  # noqa: F401
from reconciler.wording import named

if TYPE_CHECKING:
    from reconciler.checks import Finding


class ReconcilerError(Exception):
    """Base of all errors raised on purpose; ``str(err)`` is the message a user sees."""


class ConfigError(ReconcilerError):
    """``problems`` make the file unusable; ``warnings`` (not in the message) were found beside them."""

    def __init__(self, problems: list[Problem] | Problem, warnings: list[Problem] | None = None) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.warnings = list(warnings or [])
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count:,} problems"
        folded = fold(self.problems)
        lines = [f"{head} in the channels file:"] + [f"  {p}{repeats(n)}" for p, n in folded[:SHOWN_PROBLEMS]]
        if len(folded) > SHOWN_PROBLEMS:
            lines.append(f"  … and {left_out(folded[SHOWN_PROBLEMS:])} not shown: fix these first")
        super().__init__("\n".join(lines))


class ApiError(ReconcilerError):
    """An API call failed; ``call`` is like ``PUT /api/v2/channel/13``."""

    def __init__(self, message: str, *, call: str = "", status: int | None = None) -> None:
        self.call = call
        self.status = status
        self.reason = message
        prefix = f"{call}: " if call else ""
        suffix = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{prefix}{message}{suffix}")


class AuthenticationError(ApiError):
    """401; ``variable`` names the environment variable the refused key came from, when known."""

    def __init__(self, message: str, *, call: str = "", status: int | None = 401, variable: str | None = None) -> None:
        self.variable = variable
        super().__init__(message, call=call, status=status)


class PermissionDenied(ApiError):
    def __init__(self, message: str, *, call: str, status: int = 403, permission: str = "") -> None:
        self.permission = permission
        super().__init__(message, call=call, status=status)


class FieldRejected(ApiError):
    def __init__(self, message: str, *, call: str, status: int = 400, field: str | None = None) -> None:
        self.field = field
        super().__init__(message, call=call, status=status)


class NotFound(ApiError):
    pass


class TransientApiError(ApiError):
    pass


class ConnectionFailed(ApiError):
    pass


class RedirectRefused(ApiError):
    pass


class UnexpectedStatus(ApiError):
    pass


class ProtocolError(ApiError):
    pass


class AnswerTooLarge(ReconcilerError):
    """Answers passed a size limit; the client raises a ``ProtocolError`` naming the call instead."""


class BodyTooLarge(AnswerTooLarge):
    """An answer passed the limit: ``declared`` by its Content-Length (then nothing was read), or
    found while reading, after ``read`` bytes."""

    def __init__(self, *, read: int = 0, declared: int | None = None) -> None:
        super().__init__(f"an answer passed the size limit (read {read} bytes, declared {declared})")
        self.read = read
        self.declared = declared


class BudgetSpent(AnswerTooLarge):
    """The answers sharing a ``transport.ByteBudget`` passed its ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answers of one read passed {limit} bytes together")
        self.limit = limit


class PlanError(ReconcilerError):
    def ahead(self) -> str:
        """This refusal said ahead of time, by a command that changes nothing (plan, a preview)."""
        return str(self)

    def warning(self) -> str:
        return f"apply will refuse this plan: {self.ahead()}"


class ConflictError(PlanError):
    def __init__(self, conflicts: list[str]) -> None:
        """``conflicts`` lists every ambiguity found, each saying what to do about it."""
        self.conflicts = list(conflicts)
        super().__init__(
            "the tenant's channels cannot be matched to the file unambiguously (nothing was changed):\n"
            + "\n".join(f"  - {c}" for c in self.conflicts)
        )


class UnsafePlanError(PlanError):
    def __init__(self, reasons: str, fixes: str, *, exact: bool = False) -> None:
        """``reasons``: what exceeds a threshold; ``fixes``: the --allow-... options (with counts) that
        allow it; ``exact``: an --allow-... count was given and is wrong."""
        self.reasons, self.fixes = reasons, fixes
        advice = (
            f"Review the plan; if it is intended, pass {fixes}"
            if exact
            else f"If that is intended, run again with {fixes}"
        )
        super().__init__(f"{reasons}; nothing was changed. {advice}")

    def ahead(self) -> str:
        return f"{self.reasons}; if that is intended, pass {self.fixes} to apply"


class StalePlanError(PlanError):
    def __init__(self, message: str, stale: list[str] | None = None) -> None:
        """``stale`` lists every channel (or secret) that changed since the plan, when known."""
        self.stale = list(stale or [])
        if self.stale:
            message += ":\n" + "\n".join(f"  - {s}" for s in self.stale)
        super().__init__(message)


class PolicyDenied(PlanError):
    def __init__(self, denied: list[str], rules: list[str]) -> None:
        """``denied`` says each finding (rule, channel, what, fix); ``rules`` the rules an override would name."""
        self.denied = list(denied)
        self.rules = list(rules)
        allow = " ".join(f"{named('allow_policy')} {r}" for r in self.rules)
        super().__init__(
            "the policy denies this plan (nothing was changed):\n"
            + "\n".join(f"  - {d}" for d in self.denied)
            + f"\nFix the channels file, or, if a reviewer accepts it, pass {allow}"
        )
        self.allow = allow

    def ahead(self) -> str:
        rules = ", ".join(self.rules)
        return f"the policy denies it (rule {rules}); if a reviewer accepts that, pass {self.allow} to apply"


class SecretMissingError(PlanError):
    def __init__(self, missing: dict[str, list[str]]) -> None:
        """``missing`` maps an environment variable to the channels that need it."""
        self.missing = dict(sorted(missing.items()))
        lines = ["secrets that must be sent are not set in the environment (nothing was changed):"]
        for var, channels in self.missing.items():
            lines.append(f"  ${{env:{var}}} needed by: {', '.join(sorted(channels))}")
        lines.append("Set these variables (export NAME=...) and run again.")
        super().__init__("\n".join(lines))


class SecretInFile(PlanError):
    """A plan to save would send a secret or an endpoint credential written in the channels file:
    a saved plan reads them from the environment when applied; nothing was saved."""


class UnmatchedPatternError(PlanError):
    """``--only``/``--exclude`` patterns that match no change: a mistyped name, not an empty plan."""

    def __init__(self, unmatched: Sequence[tuple[str, str]], names: Sequence[str], total: int) -> None:
        self.unmatched = list(unmatched)
        said = ", ".join(f"{option} {pattern!r}" for option, pattern in self.unmatched)
        if not total:
            changes = "the plan has no changes"
        else:
            more = f", and {total - len(names)} more" if total > len(names) else ""
            changes = "the plan changes " + ", ".join(repr(n) for n in names) + more
        super().__init__(
            f"{said} {'matches' if len(self.unmatched) == 1 else 'match'} no change ({changes}); patterns are "
            "case-sensitive globs of channel names (e.g. 'web-*'); fix or drop the pattern. Nothing was changed"
        )


class PlanRefused(PlanError):
    def __init__(self, findings: Sequence[Finding]) -> None:
        """``findings``: every ``DENY`` finding of the plan checks (``checks.PLAN_CHECKS``)."""
        self.findings = tuple(findings)
        lines = ["the plan checks refuse this plan (nothing was changed):"]
        lines += [f"  - {f.check}: {f.message}" for f in self.findings]
        super().__init__("\n".join(lines))


class FileError(ReconcilerError):
    """A file that cannot be used as given, or written; ``path`` names it."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(message)


class PlanFileError(FileError):
    """A saved plan that cannot be used; ``path`` is the file (its message starts with it)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message, path=path)


class TargetError(ReconcilerError):
    """No usable tenant to talk to; ``tenant``/``variable``/``host`` say which part is wrong."""

    def __init__(
        self, message: str, *, tenant: str | None = None, variable: str | None = None, host: str | None = None
    ) -> None:
        self.tenant = tenant
        self.variable = variable
        self.host = host
        super().__init__(message)

    @classmethod
    def unknown_tenant(cls, tenant: str, known: Iterable[str]) -> TargetError:
        """The one message, in every command, for a tenant the file does not define: with "did you mean"."""
        import difflib  # only on this error path: validate of a good file never pays for it

        names = list(known)
        if not names:
            return cls(
                f"unknown tenant {tenant!r} (the file defines no tenants: add a tenants: section, "
                f"or leave out {named('tenant')})",
                tenant=tenant,
            )
        close = difflib.get_close_matches(tenant, names, n=1) or [n for n in names if n.startswith(tenant)][:1]
        guess = f"; did you mean {close[0]!r}?" if close else ""
        return cls(f"unknown tenant {tenant!r} (known tenants: {', '.join(names)}{guess})", tenant=tenant)


class StateFileError(ReconcilerError):
    """The emulator's state file or its journal cannot be read (real damage, not a torn last line)."""


class EmulatorNotStarted(ReconcilerError):
    """The emulator's HTTP server did not start (its thread ended, or it did not answer in time)."""


class CiError(ReconcilerError):
    """GitHub/GitLab glue that cannot do its job; ``variables`` names missing CI variables, ``call``
    a failed API call."""

    def __init__(
        self, message: str, *, variables: tuple[str, ...] = (), call: str = "", status: int | None = None
    ) -> None:
        self.variables = variables
        self.call = call
        self.status = status
        super().__init__(message)


class FileWriteError(FileError):
    """A file cannot be written (missing folder, no permission, disk full); ``path`` names it."""


class ImportRefused(ReconcilerError):
    """``import`` refused; the file was not written. ``file`` and ``line`` say where, when known."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}; nothing was written")


class ImportConflict(ImportRefused):
    """The file and the request disagree: it defines tenants and none was named, or it changed meanwhile."""


class EditError(ImportRefused):
    pass


class UnknownChannelError(ImportRefused):
    def __init__(self, message: str, *, name: str, guess: str | None = None, file: str = "") -> None:
        self.name = name
        self.guess = guess
        super().__init__(message + (f". Did you mean {guess!r}?" if guess else ""), file=file)


class InputFileError(FileError):
    """A file argument that cannot be used as given; ``path`` is the file."""


class OutputFileError(FileError):
    """An output path refused before any work: it is an input, another kind of file, or has no folder."""


class InitError(ReconcilerError):
    """``init`` could not write its files; ``paths`` names them."""

    def __init__(self, message: str, *, paths: list[str]) -> None:
        self.paths = list(paths)
        super().__init__(message)


class SendRefused(ReconcilerError):
    """``send_message`` found no single custom channel by that name; nothing was sent."""


class NotConfirmed(ReconcilerError):
    """Apply asked and got no yes (or could not ask: no terminal, no --yes); nothing was changed."""


class ApplyError(ReconcilerError):
    def __init__(self, failed: list[tuple[str, str]], total: int) -> None:
        """``failed`` lists (channel name, reason) pairs."""
        self.failed = list(failed)
        lines = [f"{len(self.failed)} of {total} operations failed:", *failure_lines(self.failed)]
        lines.append("Nothing else was rolled back; run apply again to converge.")
        super().__init__("\n".join(lines))


class OperationsFailed(ApplyError):
    """Some operations failed; the others were done and nothing was rolled back."""


class KeyCannotWrite(ApplyError):
    """A write was refused with 403, so apply started no more: the key lacks ``permission``."""

    def __init__(
        self,
        permission: str,
        variable: str | None,
        refused: int,
        not_started: int,
        failed: list[tuple[str, str]],
        total: int,
    ) -> None:
        """``failed`` lists the other failures (not refusals) as (channel name, reason) pairs."""
        self.permission = permission
        self.variable = variable
        self.refused = refused
        self.not_started = not_started
        self.failed = list(failed)
        key = f"the API key in {variable}" if variable else "the API key"
        lines = [
            f"{key} lacks the {permission} permission: {refused} of {total} operations were refused (403) "
            f"and apply stopped there; {not_started} not started."
        ]
        if self.failed:
            lines.append(f"{len(self.failed)} other operation(s) failed:")
            lines += failure_lines(self.failed)
        where = f" in {variable}" if variable else ""
        lines.append(f"A re-run needs a key with {permission}{where}; nothing was rolled back.")
        ReconcilerError.__init__(self, "\n".join(lines))
