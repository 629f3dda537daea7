"""Apply: the only module that writes to a tenant. It takes a plan, never a channels file.

Order: deletes, then updates, then creates (names are freed before they are reused), each phase with
bounded concurrency. A failed operation stops that channel only; every outcome is reported, and a
second apply converges. An interrupt stops starting new operations and lets running ones finish;
so does the first write refused with 403 (the key lacks the permission: every other write would be
refused too), and the report says once which permission is missing.

Creates whose answer was lost are resolved together: when a phase's creates are done, one read of
the list finds every uncertain one that landed (its remaining calls are then made); only those
confirmed absent are sent again, for at most ``CREATE_ROUNDS`` rounds. A create still uncertain
after them, or when the list cannot be read, is reported "unknown whether created, run plan".

Two applies on one tenant at once (there is no server-side lock):

* Guaranteed: no channel is created twice. Names are unique per tenant (the server refuses a taken
  name), and a create is never retried blindly: after a lost answer the client looks the name up
  in the list first.
* A race is not a failure: a create refused because its name is taken is looked up like a lost
  answer. A channel of that name with the planned values (the PUT-only ones aside, which this run
  then sets) was made by the other run: ``ok``, counted as "created by another run" in the
  summary. A channel of that name with other values is a conflict: one failure, and the next plan
  shows the update.
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

import functools
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from queue import Empty, SimpleQueue

from reconciler.client import OmnideskClient, UncertainCreate
from reconciler.errors import ApplyError, KeyCannotWrite, OperationsFailed, PermissionDenied, ReconcilerError
from reconciler.model import SECRET_FIELD, RemoteChannel
from reconciler.plan import NEW_ID, Change, Create, Delete, Plan, Update
from reconciler.secrets import Secrets

OK = "ok"
FAILED = "failed"
INCOMPLETE = "incomplete"  # created, but a later call of the same change failed
NOT_STARTED = "not started"
CREATE_ROUNDS = 3  # list reads that resolve uncertain creates, each followed by re-sending the absent ones


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: str  # OK | FAILED | INCOMPLETE | NOT_STARTED
    message: str = ""
    channel_id: int | None = None
    missing_fields: tuple[str, ...] = ()  # INCOMPLETE: the fields the channel does not have yet
    denied: str = ""  # the permission a 403 said the key lacks
    by_other_run: bool = False  # OK create: the name was taken by the same channel, made by another run

    @property
    def detail(self) -> str:
        """One line for a log: the id of a created channel, or why it failed."""
        if self.status == OK and isinstance(self.change, Create):
            by = "created by another run" if self.by_other_run else "created"
            return f"{by}, id {self.channel_id}"
        return self.message


@dataclass(frozen=True)
class ApplyReport:
    """Every outcome of an apply, in plan order."""

    outcomes: tuple[Outcome, ...]
    denied: str = ""  # set when a 403 on a write stopped the apply: the permission the key lacks

    @property
    def interrupted(self) -> bool:
        """Stopped by the caller (Ctrl-C), not by a refused write."""
        return not self.denied and any(o.status == NOT_STARTED for o in self.outcomes)

    @property
    def failures(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status in (FAILED, INCOMPLETE))

    @property
    def created(self) -> dict[str, int]:
        """Channel name -> id of every channel this apply created (complete or not)."""
        return {
            o.change.name: o.channel_id
            for o in self.outcomes
            if isinstance(o.change, Create)
            and o.status in (OK, INCOMPLETE)
            and o.channel_id is not None
            and not o.by_other_run
        }

    def summary(self) -> str:
        done = Counter(o.change.action for o in self.outcomes if o.status == OK and not o.by_other_run)
        others = sum(1 for o in self.outcomes if o.by_other_run)
        by_other = f", {others} created by another run" if others else ""
        text = (
            f"Apply: {done['create']} created{by_other}, {done['update']} updated, {done['delete']} deleted"
            f" (of {len(self.outcomes)} planned)"
        )
        incomplete = sum(1 for o in self.outcomes if o.status == INCOMPLETE)
        return text + (f"; {incomplete} created incomplete." if incomplete else ".")

    def error(self, key_env: str | None = None) -> ApplyError | None:
        """The error to report, if any; ``key_env`` names the key's variable in a refusal."""
        if self.denied:
            others = [(o.change.name, o.message) for o in self.failures if not o.denied]
            refused = sum(1 for o in self.outcomes if o.denied)
            not_started = sum(1 for o in self.outcomes if o.status == NOT_STARTED)
            return KeyCannotWrite(self.denied, key_env, refused, not_started, others, len(self.outcomes))
        failed = [(o.change.name, o.message) for o in self.failures]
        return OperationsFailed(failed, len(self.outcomes)) if failed else None


@dataclass(frozen=True)
class _Pending:
    """A create whose POST may or may not have landed: the phase's list read resolves it."""

    uncertain: UncertainCreate


def _run_one(
    client: OmnideskClient,
    change: Change,
    secrets: Secrets,
    *,
    found: int | None = None,
    again: bool = False,
    by_other_run: bool = False,
) -> Outcome | _Pending:
    """Make the change's calls in order; the first failure ends the change.

    ``found``: the id of this create's channel, found in the list after a lost answer (the POST is
    done; the rest of the calls are made); ``by_other_run``: another run's POST made it. ``again``:
    the POST is sent again after its channel was confirmed absent.
    """
    new_id: int | None = found
    for call in change.calls():
        if call.method == "POST" and found is not None:
            continue
        fields = dict(call.fields)
        if call.sends_secret:
            fields[SECRET_FIELD] = secrets[change.name]
        channel_id = new_id if call.channel == NEW_ID else call.channel
        try:
            if call.method == "POST":
                created = client.try_create(fields, again=again)
                if isinstance(created, UncertainCreate):
                    return _Pending(created)
                new_id = created.id
            elif call.method == "PUT":
                client.update_channel(int(channel_id), fields)  # type: ignore[arg-type]
            else:
                client.delete_channel(int(channel_id))  # type: ignore[arg-type]
        except ReconcilerError as exc:
            denied = exc.permission if isinstance(exc, PermissionDenied) else ""
            if new_id is None:
                return Outcome(change, FAILED, str(exc), change.channel_id, denied=denied)
            names = tuple(call.fields)
            return Outcome(
                change,
                INCOMPLETE,
                f"created (id {new_id}) but incomplete: {', '.join(names)} not set ({exc}); "
                "run apply again to set them",
                new_id,
                names,
                denied=denied,
            )
    return Outcome(
        change, OK, channel_id=new_id if isinstance(change, Create) else change.channel_id, by_other_run=by_other_run
    )


Job = tuple[int, Change, Callable[[], "Outcome | _Pending"]]


class _Runner:
    """Runs a phase's jobs with bounded concurrency and records their outcomes.

    New jobs stop starting on an interrupt (``stop``) or on the first write the key is not allowed
    to make (a 403: every other write would be refused too); jobs already running finish.
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        parallelism: int,
        stop: threading.Event,
        on_outcome: Callable[[Outcome], None] | None,
    ) -> None:
        self.pool = pool
        self.parallelism = max(1, parallelism)
        self.stop = stop
        self.on_outcome = on_outcome
        self.outcomes: dict[int, Outcome] = {}
        self.denied = ""

    def stopped(self) -> bool:
        return self.stop.is_set() or bool(self.denied)

    def not_started(self, change: Change) -> Outcome:
        why = f"not started: the API key lacks {self.denied}" if self.denied else "interrupted before it started"
        return Outcome(change, NOT_STARTED, why)

    def record(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome
        if outcome.denied and not self.denied:
            self.denied = outcome.denied
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def each(self, jobs: list[Job]) -> dict[int, _Pending]:
        """Run ``jobs``; returns the creates left uncertain, by plan index."""
        pending: dict[int, _Pending] = {}
        running: dict[Future[Outcome | _Pending], int] = {}
        # Finished jobs arrive here: ``concurrent.futures.wait`` would hook into every running
        # future for each one that ends (64 x 1,000 at parallelism 64, 8% of an apply's CPU, #27).
        finished: SimpleQueue[Future[Outcome | _Pending]] = SimpleQueue()
        queue = deque(jobs)
        while queue or running:
            # Submit only as many as can run, so a stop leaves the rest not started.
            while queue and len(running) < self.parallelism and not self.stopped():
                index, _, job = queue.popleft()
                future = self.pool.submit(job)
                running[future] = index
                future.add_done_callback(finished.put)
            if self.stopped():
                for index, change, _ in queue:
                    self.outcomes[index] = self.not_started(change)
                queue.clear()
            if not running:
                break
            try:
                done = [finished.get(timeout=0.2)]  # wakes up to notice a stop while all are running
            except Empty:
                continue
            while not finished.empty():
                done.append(finished.get())
            for future in done:
                index = running.pop(future)
                result = future.result()
                if isinstance(result, _Pending):
                    pending[index] = result
                else:
                    self.record(index, result)
        return pending


def _create_phase(runner: _Runner, client: OmnideskClient, creates: list[tuple[int, Change]], secrets: Secrets) -> None:
    """Creates, then rounds of resolving the uncertain ones together: one list read per round finds
    those that landed (their remaining calls are made), and only those confirmed absent are sent again."""
    changes = dict(creates)
    pending = runner.each([(i, c, functools.partial(_run_one, client, c, secrets)) for i, c in creates])
    for _ in range(CREATE_ROUNDS):
        if not pending or runner.stopped():
            break
        try:
            found = client.find_custom_channels(changes[i].name for i in pending)
        except ReconcilerError as exc:
            for index, left in pending.items():
                runner.record(index, _unknown(changes[index], left, f"the channel list could not be read: {exc}"))
            return
        jobs: list[Job] = []
        for index, left in pending.items():
            change = changes[index]
            channel = found.get(change.name)
            if channel is not None and left.uncertain.taken:
                _resolve_taken(runner, client, secrets, jobs, index, change, channel)
            elif channel is not None:
                jobs.append((index, change, functools.partial(_run_one, client, change, secrets, found=channel.id)))
            elif left.uncertain.landed or left.uncertain.taken:
                runner.record(index, Outcome(change, FAILED, str(left.uncertain.error)))
            else:
                jobs.append((index, change, functools.partial(_run_one, client, change, secrets, again=True)))
        pending = runner.each(jobs)
    for index, left in pending.items():
        why = (
            "interrupted before it was checked" if runner.stopped() else f"still uncertain after {CREATE_ROUNDS} checks"
        )
        runner.record(index, _unknown(changes[index], left, why))


def _resolve_taken(
    runner: _Runner,
    client: OmnideskClient,
    secrets: Secrets,
    jobs: list[Job],
    index: int,
    change: Change,
    channel: RemoteChannel,
) -> None:
    """A create refused because its name is taken, by ``channel``: another run made the same channel
    (done; the PUT-only fields this create sets are set, the other run may not have got there yet),
    or a channel with other values holds the name (a conflict: one failure)."""
    assert isinstance(change, Create)
    completes = {n for call in change.calls()[1:] for n in call.fields}
    differ = [n for n, v in change.after.items() if channel.fields.get(n) != v]
    if not differ:
        runner.record(index, Outcome(change, OK, channel_id=channel.id, by_other_run=True))
    elif set(differ) <= completes:
        jobs.append(
            (index, change, functools.partial(_run_one, client, change, secrets, found=channel.id, by_other_run=True))
        )
    else:
        runner.record(
            index,
            Outcome(
                change,
                FAILED,
                (
                    f"the name is taken by channel {channel.id}, made meanwhile with other values "
                    f"({', '.join(differ)}); run plan to see the update"
                ),
            ),
        )


def _unknown(change: Change, left: _Pending, why: str) -> Outcome:
    return Outcome(change, FAILED, f"unknown whether created ({left.uncertain.error}; {why}); run plan to see")


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
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
        runner = _Runner(pool, parallelism, stop, on_outcome)
        for kind in (Delete, Update, Create):
            phase: list[tuple[int, Change]] = [(i, c) for i, c in enumerate(plan.changes) if isinstance(c, kind)]
            if not phase:
                continue
            if kind is Create:
                _create_phase(runner, client, phase, secrets)
            else:
                runner.each([(i, c, functools.partial(_run_one, client, c, secrets)) for i, c in phase])
    # every phase gives each of its changes an outcome: run, not started once stopped, or still
    # uncertain after the create rounds
    return ApplyReport(tuple(runner.outcomes[i] for i in range(len(plan.changes))), denied=runner.denied)


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
