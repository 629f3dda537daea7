"""Saved plans: the reviewed plan, pinned by a digest, applied exactly or not at all.

A saved plan file holds the plan (``plan.schema.json``), how to reach the tenant again (its URL
and the *name* of the key's variable, never the key), salted digests of the secrets it sends, the
safety thresholds it was planned under, and one digest over all of it. Loading validates the plan
against the schema and rebuilds its typed changes; an edited, damaged or foreign file is a
``PlanFileError``/``StalePlanError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import PlanFileError, SecretInFile, StalePlanError
from reconciler.filekinds import PLAN_KIND, SAVED_PLAN, file_kind
from reconciler.files import write_atomically
from reconciler.plan import PLAN_FORMAT_VERSION, Plan, digest
from reconciler.schema import plan_validator
from reconciler.secrets import SecretDigests, check_endpoint_credentials
from reconciler.thresholds import DEFAULT_THRESHOLDS, Thresholds
from reconciler.wording import named


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    connection: Mapping[str, str]
    secret_digests: SecretDigests
    thresholds: Thresholds = DEFAULT_THRESHOLDS


def _document_digest(plan_data: Any, connection: Mapping[str, str], secrets: Any, safety: Any = None) -> str:
    pinned = {"plan": plan_data, "connection": dict(connection), "secrets": secrets}
    if safety is not None:  # plans saved before thresholds were kept have none
        pinned["safety"] = safety
    return digest(pinned)


def save_plan(
    plan: Plan,
    connection: Mapping[str, str],
    path: str | os.PathLike[str],
    secrets: Mapping[str, str],
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> None:
    """Write the plan, where it applies, salted digests of the secrets it sends, and a digest of all.

    ``secrets`` are the values the plan was made with (only digested); ``thresholds`` the safety
    limits it was planned under, so that apply holds it to them. Written atomically.
    """
    literal = sorted(c.name for c in plan.sent_secrets if not c.secret.env_var)  # type: ignore[attr-defined]
    if literal:
        raise SecretInFile(
            "a saved plan reads secrets from the environment when applied, but these channels have a "
            f"secret written in the file: {', '.join(literal)}. Write it as ${{env:NAME}} instead "
            "(a secret in a file ends up in Git); nothing was saved"
        )
    check_endpoint_credentials(plan)
    plan_data = plan.to_data()
    safety = thresholds.to_data()
    digests = SecretDigests.make(plan, secrets).to_data()
    document = {
        "kind": PLAN_KIND,
        "format_version": PLAN_FORMAT_VERSION,
        "digest": _document_digest(plan_data, connection, digests, safety),
        "connection": dict(connection),
        "secrets": digests,
        "safety": safety,
        "plan": plan_data,
    }
    write_atomically(path, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def is_plan_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a saved plan rather than a channels file."""
    return file_kind(path) == SAVED_PLAN


def load_plan(path: str | os.PathLike[str]) -> SavedPlan:
    """The saved plan, its connection and secret digests; refuses a file edited after it was written."""
    shown = os.fspath(path)
    try:
        document: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError(f"not a readable plan file ({type(exc).__name__}: {exc})", path=shown) from None
    if not isinstance(document, dict) or document.get("kind") != PLAN_KIND:
        raise PlanFileError(f"not a plan file written by '{named('save_plan', 'Workflow.save')}'", path=shown)
    if document.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"plan format {document.get('format_version')!r} is not supported "
            f"(this version reads {PLAN_FORMAT_VERSION}); plan again with this version",
            path=shown,
        )
    plan_data: Any = document.get("plan")  # checked against plan.schema.json below
    connection, secrets = document.get("connection"), document.get("secrets")
    if not isinstance(connection, dict) or not isinstance(secrets, dict):
        raise PlanFileError("the plan file is damaged (connection or secrets missing); plan again", path=shown)
    errors = sorted(plan_validator().iter_errors(plan_data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top)"
        raise PlanFileError(
            f"the plan does not match plan.schema.json at {where}: {errors[0].message}; plan again",
            path=shown,
        )
    safety = document.get("safety")
    if safety is not None and not isinstance(safety, dict):
        raise PlanFileError("the plan file is damaged (safety is not a mapping); plan again", path=shown)
    if _document_digest(plan_data, connection, secrets, safety) != document.get("digest"):
        raise StalePlanError(f"{shown}: the plan file was edited after it was made (digest mismatch); plan again")
    plan = Plan.from_data(plan_data)
    return SavedPlan(
        plan,
        {str(k): str(v) for k, v in connection.items()},
        SecretDigests.from_data(secrets),
        Thresholds.from_data(safety),
    )
