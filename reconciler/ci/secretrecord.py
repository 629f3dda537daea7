"""The secret-version record between CI runs (``reconciler.secretversions``): read by plans, kept by applies.

The apply job runs on the protected branch from a fresh checkout and cannot write the repository,
so the record travels as the apply job's artifact, as the drift count does: GitHub keeps the
folder ``omnidesk-secret-versions`` as the artifact ``ARTIFACT-secret-versions`` (ARTIFACT: the
action's ``artifact-name``, one per tenant or shard of a matrix; action.yml uploads it even when
the apply failed: it records the writes that succeeded); GitLab keeps it in the apply job's
``artifacts:`` (``when: always``). Each apply starts from the record the newest earlier apply
kept (``Forge.secret_versions``) and leaves its own for the next one; each plan job reads the same
record, so the pull request's plan shows the rotation the apply will make.

Only a channels file (or a saved plan) that uses ``secret_version`` touches it. No earlier record
(the first apply, or an artifact past its retention) means baselines, never a rotation: the plan
says so. An earlier record that cannot be fetched stops an apply before any write (applying without
it would take a raised version as a baseline and lose that rotation); a plan only warns, since the
apply refuses what no reviewed plan showed.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.ci import Log
from reconciler.ci.forge import Forge
from reconciler.errors import CiError, ReconcilerError
from reconciler.plan import Plan
from reconciler.secretversions import uses_versions, write_record
from reconciler.workflow import Workflow

STATE_DIR = "omnidesk-secret-versions"
ARTIFACT_SUFFIX = "secret-versions"  # GitHub: after the plan's artifact name, omnidesk-plan-secret-versions
RECORD = "secret-versions.json"


def used(engine: Workflow, file: str | None, plans: Sequence[Plan] = ()) -> bool:
    """Whether the channels file (any tenant's view of it) or a saved plan uses ``secret_version``."""
    for plan in plans:
        sent = [c.secret for c in plan.creates] + [c.secret for c in plan.updates]
        if plan.baselines or any(s is not None and s.version is not None for s in sent):
            return True
    if file is None:
        return False
    try:
        return any(uses_versions(view.channels) for view in engine.views(file).values())
    except ReconcilerError:
        return False  # the plan itself reports what is wrong with the file


def readable(engine: Workflow, paths: Sequence[Path]) -> list[Plan]:
    """The saved plans that can be read (the apply of each reports what is wrong with the others)."""
    plans = []
    for path in paths:
        try:
            plans.append(engine.saved_plan(path))
        except ReconcilerError:
            continue
    return plans


@contextmanager
def reading(forge: Forge, engine: Workflow, file: str, log: Log) -> Iterator[Workflow]:
    """``engine``, reading the record the newest earlier apply kept when the file uses ``secret_version``
    (none found: every version a baseline; one that cannot be fetched: a warning, the apply checks)."""
    with tempfile.TemporaryDirectory(prefix="omnidesk-versions-") as folder:
        if not used(engine, file):
            yield engine
            return
        try:
            found = forge.secret_versions(Path(folder))
        except CiError as exc:
            log(forge.annotation("warning", f"the secret-version record cannot be read: {exc}", "omnidesk-channels"))
            found = None
        yield _with_record(engine, str(found or Path(folder) / RECORD))


def keeping(
    forge: Forge,
    engine: Workflow,
    log: Log,
    *,
    file: str | None = None,
    plans: Sequence[Plan] = (),
    state_dir: str = STATE_DIR,
) -> Workflow:
    """``engine`` writing the record in ``state_dir`` (the job's artifact), started from the previous
    one, when the file or the saved ``plans`` use ``secret_version``; else ``engine`` as it is."""
    if not used(engine, file, plans):
        return engine
    target = Path(state_dir) / RECORD
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="omnidesk-versions-") as folder:
        try:
            found = forge.secret_versions(Path(folder))
        except CiError as exc:
            raise CiError(
                f"the secret-version record of the last apply cannot be read, so nothing was applied: {exc}"
            ) from None
        if found is not None:
            shutil.copyfile(found, target)
            log(f"secret versions: the record of the last apply ({found.name})")
    if found is None:
        target.unlink(missing_ok=True)
        write_record(os.fspath(target), None, {})  # the artifact always holds a record, if an empty one
        log("secret versions: no earlier apply kept a record; each secret_version is recorded as it is, none rotated")
    forge.outputs(versions_path=os.fspath(state_dir))
    return _with_record(engine, os.fspath(target))


def _with_record(engine: Workflow, path: str) -> Workflow:
    record = copy.copy(engine)
    record.secret_versions = path
    return record
