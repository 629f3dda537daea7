"""omnidesk-channels: Omnidesk custom channels as code.

The names in ``__all__`` are the library's public API (see docs/how-to/python.md): the
``Workflow`` every command goes through, its results, the plan and its changes, the plan checks and
output formats (the two extension points), and the error tree (``reconciler.errors``). Anything
else is internal and may change in any release.

They are imported on first use (``reconciler.Workflow``), so ``omnidesk-channels --version`` and
``validate`` pay only for what they use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Each public name and the module that defines it.
_PUBLIC = {
    "reconciler.workflow": ("Workflow",),
    "reconciler.results": (
        "Planned",
        "Proposal",
        "Validated",
        "Probed",
        "Exported",
        "ImportedFile",
        "Cloned",
        "Sent",
    ),
    "reconciler.apply": ("ApplyReport", "Outcome"),
    "reconciler.plan": ("Plan", "Change", "Create", "Update", "Delete", "SecretAction"),
    "reconciler.checks": ("PLAN_CHECKS", "CheckContext", "Finding"),
    "reconciler.render": ("FORMATS", "Format", "RenderOptions", "render_plan", "render_report"),
    "reconciler.thresholds": ("Thresholds",),
    "reconciler.errors": (
        "ReconcilerError",
        "ConfigError",
        "ApiError",
        "AuthenticationError",
        "PermissionDenied",
        "FieldRejected",
        "NotFound",
        "TransientApiError",
        "ConnectionFailed",
        "RedirectRefused",
        "UnexpectedStatus",
        "ProtocolError",
        "AnswerTooLarge",
        "BodyTooLarge",
        "BudgetSpent",
        "PlanError",
        "ConflictError",
        "UnsafePlanError",
        "StalePlanError",
        "PolicyDenied",
        "SecretMissingError",
        "SecretInFile",
        "UnmatchedPatternError",
        "PlanRefused",
        "FileError",
        "PlanFileError",
        "InputFileError",
        "OutputFileError",
        "FileWriteError",
        "TargetError",
        "StateFileError",
        "EmulatorNotStarted",
        "CiError",
        "ImportRefused",
        "ImportConflict",
        "EditError",
        "UnknownChannelError",
        "InitError",
        "SendRefused",
        "NotConfirmed",
        "ApplyError",
        "OperationsFailed",
        "KeyCannotWrite",
        "Problem",
    ),
}
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = ["__version__", *_HOME]

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports on demand
    from reconciler.apply import ApplyReport, Outcome
    from reconciler.checks import PLAN_CHECKS, CheckContext, Finding
    from reconciler.errors import (
        AnswerTooLarge,
        ApiError,
        ApplyError,
        AuthenticationError,
        BodyTooLarge,
        BudgetSpent,
        CiError,
        ConfigError,
        ConflictError,
        ConnectionFailed,
        EditError,
        EmulatorNotStarted,
        FieldRejected,
        FileError,
        FileWriteError,
        ImportConflict,
        ImportRefused,
        InitError,
        InputFileError,
        KeyCannotWrite,
        NotConfirmed,
        NotFound,
        OperationsFailed,
        OutputFileError,
        PermissionDenied,
        PlanError,
        PlanFileError,
        PlanRefused,
        PolicyDenied,
        Problem,
        ProtocolError,
        ReconcilerError,
        RedirectRefused,
        SecretInFile,
        SecretMissingError,
        SendRefused,
        StalePlanError,
        StateFileError,
        TargetError,
        TransientApiError,
        UnexpectedStatus,
        UnknownChannelError,
        UnmatchedPatternError,
        UnsafePlanError,
    )
    from reconciler.plan import Change, Create, Delete, Plan, SecretAction, Update
    from reconciler.render import FORMATS, Format, RenderOptions, render_plan, render_report
    from reconciler.results import Cloned, Exported, ImportedFile, Planned, Probed, Proposal, Sent, Validated
    from reconciler.thresholds import Thresholds
    from reconciler.workflow import Workflow


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
