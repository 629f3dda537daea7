"""Saved plans: the reviewed plan, pinned by a digest, applied exactly or not at all."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from reconciler.errors import ReconcilerError, StalePlanError
from reconciler.files import write_atomically
from reconciler.plan import PLAN_FORMAT_VERSION, SECRET_SEND, Plan, canonical_json

KIND = "omnidesk-channels-plan"


def _digest(plan: Plan, connection: Mapping[str, str]) -> str:
    payload = canonical_json({"plan": plan.to_data(), "connection": dict(connection)})
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def save_plan(plan: Plan, connection: Mapping[str, str], path: str | os.PathLike[str]) -> None:
    """Write the plan (secret-free by construction), where it applies, and a digest of both.

    ``connection`` says how to reach the tenant again (url, the key's variable name), never the key.
    Written atomically, so a killed run leaves no torn file.
    """
    literal = sorted(
        c.name for c in plan.changes if c.secret and c.secret.action == SECRET_SEND and not c.secret.env_var
    )
    if literal:
        raise ReconcilerError(
            "a saved plan reads secrets from the environment when applied, but these channels have a "
            f"secret written in the file: {', '.join(literal)}. Write it as ${{env:NAME}} instead "
            "(a secret in a file ends up in Git); nothing was saved"
        )
    document = {
        "kind": KIND,
        "format_version": PLAN_FORMAT_VERSION,
        "digest": _digest(plan, connection),
        "connection": dict(connection),
        "plan": plan.to_data(),
    }
    write_atomically(path, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def is_plan_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a saved plan rather than a channels file."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith("{") and f'"{KIND}"' in head


def load_plan(path: str | os.PathLike[str]) -> tuple[Plan, dict[str, str]]:
    """The plan and its connection; refuses a file edited after it was written."""
    try:
        document: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReconcilerError(f"{path}: not a readable plan file ({exc})") from exc
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ReconcilerError(f"{path}: not a plan file written by 'omnidesk-channels plan --out'")
    if document.get("format_version") != PLAN_FORMAT_VERSION:
        raise ReconcilerError(
            f"{path}: plan format {document.get('format_version')!r} is not supported "
            f"(this version reads {PLAN_FORMAT_VERSION}); plan again with this version"
        )
    try:
        plan = Plan.from_data(document["plan"])
        connection = {str(k): str(v) for k, v in document["connection"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ReconcilerError(f"{path}: the plan file is damaged ({exc!r}); plan again") from exc
    if _digest(plan, connection) != document.get("digest"):
        raise StalePlanError(f"{path}: the plan file was edited after it was made (digest mismatch); plan again")
    return plan, connection
