"""Apply: the only module that writes to a tenant. It takes a plan, never a channels file.

Order: deletes, then updates, then creates (names are freed before they are reused), each phase with
bounded concurrency. A failed operation stops that channel only; every outcome is reported, and a
second apply converges. An interrupt stops starting new operations and lets running ones finish.

Two applies on one tenant at once (there is no server-side lock):

* Guaranteed: no channel is created twice. Names are unique per tenant (the server refuses a taken
  name), and a create is never retried blindly: after a lost answer the client looks the name up
  in the list first. The run that loses a race for a name reports that create as failed, by name.
* Guaranteed: every operation of each run is reported, and an apply after both converges.
* Not guaranteed: whose values win. Both runs may update the same channel; the last PUT wins, and
  PUT is partial, so two different files can leave a mix of their fields until one applies again.
* Not guaranteed: that "created" means "created by this run". When a create's answer was lost and
  the other run created that name meanwhile, the lookup takes the other run's channel (with its
  values) as this run's.
* Not guaranteed: that a plan is still true when it is applied. A channel deleted or renamed by
  the other run makes an update fail (reported); ``check_fresh`` narrows this window for a saved
  plan but cannot close it.
"""
from __future__ import annotations

import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from reconciler.client import OmnideskClient
from reconciler.errors import ReconcilerError, SecretMissingError, StalePlanError
from reconciler.model import SECRET_FIELD, DesiredChannel
from reconciler.plan import CREATE, DELETE, SECRET_SEND, UPDATE, Change, Plan, secret_digest

OK = "ok"
FAILED = "failed"
NOT_STARTED = "not started"


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: str  # OK | FAILED | NOT_STARTED
    message: str = ""
    channel_id: int | None = None


def secrets_from_channels(channels: Iterable[DesiredChannel]) -> dict[str, str]:
    """The secret values a channels file gives (substituted when it was loaded), by channel name."""
    return {c.name: c.secret.value for c in channels if c.secret is not None and c.secret.value is not None}


def secrets_from_environment(plan: Plan, environ: Mapping[str, str]) -> dict[str, str]:
    """The secret values a saved plan sends, read from the environment and checked against its digests."""
    values: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    changed: list[str] = []
    for change in plan.changes:
        secret = change.secret
        if secret is None or secret.action != SECRET_SEND:
            continue
        if not secret.env_var:
            raise StalePlanError(
                f"{change.name!r}: the plan sends a secret that is not from ${{env:...}}; "
                "saved plans read secrets from the environment only"
            )
        value = environ.get(secret.env_var)
        if value is None:
            missing.setdefault(secret.env_var, []).append(change.name)
            continue
        if secret.digest and secret_digest(change.name, value) != secret.digest:
            changed.append(f"{change.name!r}: ${{env:{secret.env_var}}} differs from the value planned with")
            continue
        values[change.name] = value
    if missing:
        raise SecretMissingError(missing)
    if changed:
        raise StalePlanError("secrets changed since the plan, nothing was changed; plan again:\n"
                             + "\n".join(f"  - {c}" for c in changed))
    return values


def _run_one(client: OmnideskClient, change: Change, secrets: Mapping[str, str]) -> Outcome:
    fields = change.payload()
    if change.secret is not None and change.secret.action == SECRET_SEND and change.name in secrets:
        fields[SECRET_FIELD] = secrets[change.name]
    try:
        if change.action == DELETE:
            client.delete_channel(change.channel_id)  # type: ignore[arg-type]
            return Outcome(change, OK, "deleted", change.channel_id)
        if change.action == UPDATE:
            client.update_channel(change.channel_id, fields)  # type: ignore[arg-type]
            return Outcome(change, OK, "updated", change.channel_id)
        created = client.create_channel(fields)
        return Outcome(change, OK, "created", created.id)
    except ReconcilerError as exc:
        return Outcome(change, FAILED, str(exc), change.channel_id)


def apply_plan(
    plan: Plan,
    client: OmnideskClient,
    secrets: Mapping[str, str],
    *,
    parallelism: int = 8,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """Carry out ``plan`` and return one outcome per change, in plan order."""
    stop = stop or threading.Event()
    outcomes: dict[int, Outcome] = {}
    for action in (DELETE, UPDATE, CREATE):
        phase = [(i, c) for i, c in enumerate(plan.changes) if c.action == action]
        if not phase:
            continue
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix=f"apply-{action}") as pool:
            pending: dict[Future[Outcome], int] = {}
            queue = list(phase)
            while queue or pending:
                # Submit only as many as can run, so an interrupt leaves the rest not started.
                while queue and len(pending) < parallelism and not stop.is_set():
                    index, change = queue.pop(0)
                    pending[pool.submit(_run_one, client, change, secrets)] = index
                if stop.is_set():
                    for index, change in queue:
                        outcomes[index] = Outcome(change, NOT_STARTED, "interrupted before it started")
                    queue.clear()
                if not pending:
                    break
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    outcomes[index] = future.result()
                    if on_outcome is not None:
                        on_outcome(outcomes[index])
    for index, change in enumerate(plan.changes):
        outcomes.setdefault(index, Outcome(change, NOT_STARTED, "interrupted before it started"))
    return [outcomes[i] for i in range(len(plan.changes))]


@contextmanager
def stop_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM) sets ``stop``: no new operations start, running ones finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
