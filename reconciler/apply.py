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
* A create is the calls its plan lists: a POST, then a PUT of the PUT-only fields to the new id. If
  the POST lands and the PUT fails, the outcome is ``incomplete``: the channel exists without those
  fields, and the next plan shows them as an update.
* Not guaranteed: that a plan is still true when it is applied. A channel deleted or renamed by
  the other run makes an update fail (reported); ``check_fresh`` narrows this window for a saved
  plan but cannot close it.
"""
from __future__ import annotations

import signal
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from reconciler.client import OmnideskClient
from reconciler.errors import ApplyError, ReconcilerError
from reconciler.model import SECRET_FIELD
from reconciler.plan import NEW_ID, Change, Create, Delete, Plan, Update
from reconciler.secrets import Secrets

OK = "ok"
FAILED = "failed"
INCOMPLETE = "incomplete"  # created, but a later call of the same change failed
NOT_STARTED = "not started"


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: str  # OK | FAILED | INCOMPLETE | NOT_STARTED
    message: str = ""
    channel_id: int | None = None
    missing_fields: tuple[str, ...] = ()  # INCOMPLETE: the fields the channel does not have yet

    @property
    def detail(self) -> str:
        """One line for a log: the id of a created channel, or why it failed."""
        if self.status == OK and isinstance(self.change, Create):
            return f"created, id {self.channel_id}"
        return self.message


@dataclass(frozen=True)
class ApplyReport:
    """Every outcome of an apply, in plan order."""

    outcomes: tuple[Outcome, ...]

    @property
    def interrupted(self) -> bool:
        return any(o.status == NOT_STARTED for o in self.outcomes)

    @property
    def failures(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status in (FAILED, INCOMPLETE))

    @property
    def created(self) -> dict[str, int]:
        """Channel name -> id of every channel this apply created (complete or not)."""
        return {o.change.name: o.channel_id for o in self.outcomes
                if isinstance(o.change, Create) and o.status in (OK, INCOMPLETE) and o.channel_id is not None}

    def summary(self) -> str:
        done = Counter(o.change.action for o in self.outcomes if o.status == OK)
        text = (f"Apply: {done['create']} created, {done['update']} updated, {done['delete']} deleted"
                f" (of {len(self.outcomes)} planned)")
        incomplete = sum(1 for o in self.outcomes if o.status == INCOMPLETE)
        return text + (f"; {incomplete} created incomplete." if incomplete else ".")

    def error(self) -> ApplyError | None:
        failed = [(o.change.name, o.message) for o in self.failures]
        return ApplyError(failed, len(self.outcomes)) if failed else None


def _run_one(client: OmnideskClient, change: Change, secrets: Secrets) -> Outcome:
    """Make the change's calls in order; the first failure ends the change."""
    new_id: int | None = None
    for call in change.calls():
        fields = dict(call.fields)
        if call.sends_secret:
            fields[SECRET_FIELD] = secrets[change.name]
        channel_id = new_id if call.channel == NEW_ID else call.channel
        try:
            if call.method == "POST":
                new_id = client.create_channel(fields).id
            elif call.method == "PUT":
                client.update_channel(int(channel_id), fields)  # type: ignore[arg-type]
            else:
                client.delete_channel(int(channel_id))  # type: ignore[arg-type]
        except ReconcilerError as exc:
            if new_id is None:
                return Outcome(change, FAILED, str(exc), change.channel_id)
            names = tuple(call.fields)
            return Outcome(
                change, INCOMPLETE,
                f"created (id {new_id}) but incomplete: {', '.join(names)} not set ({exc}); "
                "run apply again to set them",
                new_id, names,
            )
    return Outcome(change, OK, channel_id=new_id if isinstance(change, Create) else change.channel_id)


def apply_plan(
    plan: Plan,
    client: OmnideskClient,
    secrets: Secrets,
    *,
    parallelism: int = 8,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> ApplyReport:
    """Carry out ``plan``: one outcome per change, in plan order.

    Refuses before any write when a secret the plan sends is not in ``secrets``.
    """
    secrets.require(plan)
    stop = stop or threading.Event()
    outcomes: dict[int, Outcome] = {}
    for kind in (Delete, Update, Create):
        phase = [(i, c) for i, c in enumerate(plan.changes) if isinstance(c, kind)]
        if not phase:
            continue
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix=f"apply-{kind.action}") as pool:
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
    return ApplyReport(tuple(outcomes[i] for i in range(len(plan.changes))))


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
