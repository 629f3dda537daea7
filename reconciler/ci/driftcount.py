"""How many drift checks in a row each tenant has drifted: ``drift-after: N`` reads and writes it.

A drift issue pages people, so with ``drift-after: N`` it opens only once a tenant has drifted in
N consecutive checks (a change made and undone in the admin UI between two checks pages nobody).
The count has to outlive the job: each drift job writes it to ``omnidesk-drift/state.json``, which
the CI keeps as the job's artifact (GitHub: the artifact ``omnidesk-drift-state``; GitLab: the
job's ``artifacts:``), and the next job reads the previous job's copy back through the forge's
API (``Forge.drift_state``). The file holds tenant names and counts only, never a plan or a key.

A clean check resets a tenant's count; a failed one keeps it (it neither drifted nor matched).
A missing or unreadable previous state counts from zero: it can delay an issue, never invent one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import CiError
from reconciler.files import write_atomically
from reconciler.multitenant import TenantPlan
from reconciler.shard import Shard

STATE_DIR = "omnidesk-drift"
STATE_FILE = "state.json"
ARTIFACT = "omnidesk-drift-state"
FORMAT_VERSION = 1
# A count this high has long opened its issue; a bigger number in the file is not one we wrote.
MAX_COUNT = 1_000_000
MAX_STATE_BYTES = 1_000_000


def artifact_name(shard: Shard | None) -> str:
    """The state's artifact: one per shard of a matrix (``omnidesk-drift-state-2-of-4``), since a run
    may not hold two artifacts of one name and each shard counts only its own tenants (a tenant's
    shard never changes while N does not)."""
    return f"{ARTIFACT}-{shard.index}-of-{shard.total}" if shard else ARTIFACT


def read_counts(path: Path | None) -> tuple[dict[str, int], str | None]:
    """The counts in a previous job's state file, and a warning when it could not be used."""
    if path is None:
        return {}, None
    try:
        raw = path.read_bytes()[: MAX_STATE_BYTES + 1]
        data = json.loads(raw) if len(raw) <= MAX_STATE_BYTES else None
    except (OSError, ValueError) as exc:
        return {}, f"the previous drift state {path.name} cannot be read ({type(exc).__name__}); counting from zero"
    counts = (
        data.get("drifted_runs") if isinstance(data, dict) and data.get("format_version") == FORMAT_VERSION else None
    )
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and type(v) is int and 0 < v <= MAX_COUNT for k, v in counts.items()
    ):
        return {}, f"the previous drift state {path.name} is not one this tool wrote; counting from zero"
    return dict(counts), None


def next_counts(results: Sequence[TenantPlan], previous: Mapping[str, int]) -> dict[str, int]:
    """Drifted: one more; matching: gone (reset); failed: kept as it was."""
    counts: dict[str, int] = {}
    for result in results:
        before = previous.get(result.name, 0)
        if result.failed:
            if before:
                counts[result.name] = before
        elif result.has_changes:
            counts[result.name] = min(before + 1, MAX_COUNT)
    return counts


def write_counts(folder: str | Path, counts: Mapping[str, int]) -> Path:
    """This job's state, for the next job (the folder is the job's artifact)."""
    where = Path(folder)
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CiError(f"cannot create the drift state folder {where}: {exc.strerror}") from None
    path = where / STATE_FILE
    text = json.dumps({"format_version": FORMAT_VERSION, "drifted_runs": dict(sorted(counts.items()))}, indent=2)
    write_atomically(path, text + "\n")
    return path
