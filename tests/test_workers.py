"""``plan --all-tenants`` splits its tenants across worker processes (``reconciler.workers``), one per core.

Why (issue 27): once the waiting overlaps, a run over many tenants is CPU under one GIL, and one
process uses one core however many threads it runs. What must not change: the results (the same,
in the same order, in every format), a tenant's failure staying its own, Ctrl-C, and a bug in a
child surfacing in the parent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from clihelp import RunningEmulator

from reconciler import workers
from reconciler.errors import TargetError
from reconciler.multitenant import exit_code, plan_tenants
from reconciler.render import FORMATS, RenderOptions, render_report
from reconciler.workers import MIN_ITEMS_PER_PROCESS, processes_for, split_map

KEYS = {"KEY_A": "demo", "KEY_B": "demo"}


def _pids(share: Sequence[int]) -> list[tuple[int, int]]:
    return [(item, os.getpid()) for item in share]


def test_each_share_runs_in_a_child_of_its_own_and_the_results_keep_the_items_order() -> None:
    got = split_map(_pids, list(range(10)), 3)
    assert [item for item, _ in got] == list(range(10))
    pids = {pid for _, pid in got}
    assert len(pids) == 3 and os.getpid() not in pids
    assert {pid for item, pid in got if item % 3 == 0} == {got[0][1]}  # items[k::3] went together


def test_one_process_or_one_item_runs_here() -> None:
    assert {pid for _, pid in split_map(_pids, [1, 2, 3], 1)} == {os.getpid()}
    assert {pid for _, pid in split_map(_pids, [1], 4)} == {os.getpid()}


def _refuse_seven(share: Sequence[int]) -> list[int]:
    if 7 in share:
        raise TargetError("tenant seven has no key")
    return list(share)


def test_a_childs_error_is_raised_in_the_parent_as_it_was() -> None:
    with pytest.raises(TargetError, match=r"^tenant seven has no key$"):
        split_map(_refuse_seven, list(range(10)), 2)


class _Odd(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickle rebuilds it with one argument: it cannot
        super().__init__(f"{a}/{b}")


def _raise_odd(share: Sequence[int]) -> list[int]:
    raise _Odd(1, 2)


def test_an_exception_that_cannot_travel_is_named_by_its_type() -> None:
    with pytest.raises(RuntimeError, match="_Odd in a worker process"):
        split_map(_raise_odd, [1, 2], 2)


def test_ctrl_c_in_a_child_stops_the_others_and_is_raised_in_the_parent(tmp_path: Path) -> None:
    def work(share: Sequence[int]) -> list[int]:
        (tmp_path / str(os.getpid())).touch()
        if 0 in share:
            time.sleep(0.2)  # the other child is asleep by now
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
        return list(share)

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        split_map(work, [0, 1, 2, 3], 2)
    assert time.monotonic() - started < 10
    children = [int(p.name) for p in tmp_path.iterdir()]
    assert len(children) == 2
    for pid in children:  # both reaped: no process left, not even a zombie
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(
    ("items", "cores", "expected"),
    [(1000, 2, 2), (1000, 8, 8), (1000, 1, 1), (2 * MIN_ITEMS_PER_PROCESS - 1, 2, 1), (150, 4, 1), (0, 2, 1)],
)
def test_one_process_per_core_with_enough_items_each(items: int, cores: int, expected: int) -> None:
    assert processes_for(items, cores) == expected


def _tenants_file(tmp_path: Path, urls: list[str], keys: list[str]) -> Path:
    lines = ["version: 1", "tenants:"]
    for i, (url, key) in enumerate(zip(urls, keys, strict=True)):
        lines += [f"  t{i:03d}:", f"    url: {url}", f"    api_key_env: {key}"]
    lines += ["channels:", "  - name: SMS gateway", "    icon: sms", "  - name: Instagram", "    icon: chat"]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mixed(make_emulator: Callable[..., RunningEmulator], tmp_path: Path) -> tuple[Path, list[str]]:
    """Seven tenants on two hosts: one host has both channels (one differs), the other none; one
    tenant's key variable is unset (it fails alone)."""
    hosts = [make_emulator(), make_emulator()]
    hosts[0].emu.seed_channels([{"name": "SMS gateway", "icon": "note"}, {"name": "Instagram", "icon": "chat"}])
    keys = ["KEY_A", "KEY_B", "KEY_A", "KEY_UNSET", "KEY_B", "KEY_A", "KEY_B"]
    path = _tenants_file(tmp_path, [hosts[i % 2].url for i in range(len(keys))], keys)
    return path, [f"t{i:03d}" for i in range(len(keys))]


@pytest.mark.parametrize("options", [{}, {"only": ("SMS*",)}, {"exclude": ("Insta*",), "prune": True}])
def test_split_across_processes_the_report_is_the_one_process_report_in_every_format(
    mixed: tuple[Path, list[str]], options: dict[str, object]
) -> None:
    path, names = mixed
    alone = plan_tenants(path, names, environ=KEYS, processes=1, **options)  # type: ignore[arg-type]
    split = plan_tenants(path, names, environ=KEYS, processes=3, **options)  # type: ignore[arg-type]
    assert [r.error for r in split] == [r.error for r in alone] and alone[3].error and not alone[0].error
    for fmt in FORMATS:
        assert render_report(split, fmt, RenderOptions()) == render_report(alone, fmt, RenderOptions())
    for detailed in (False, True):
        assert exit_code(split, detailed) == exit_code(alone, detailed)
    assert [r.warnings for r in split] == [r.warnings for r in alone]


def test_split_across_processes_each_saved_plan_is_the_one_process_one(
    mixed: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, names = mixed
    saved = {}
    for processes in (1, 3):
        out = tmp_path / f"p{processes}" / "{tenant}.json"
        out.parent.mkdir()
        results = plan_tenants(path, names, environ=KEYS, processes=processes, out=str(out), only=("SMS*",))
        assert [r.saved is not None for r in results] == [r.error is None for r in results]
        saved[processes] = {p.name: _without_salted(p) for p in out.parent.iterdir()}
    assert saved[3] == saved[1] and len(saved[1]) == len(names) - 1


def _without_salted(path: Path) -> dict[str, object]:
    """A saved plan but its secrets' digests and its own digest: each save draws a new salt."""
    plan = json.loads(path.read_text(encoding="utf-8"))
    assert set(plan["secrets"]) >= {"salt", "digests"}
    return {k: v for k, v in plan.items() if k not in ("secrets", "digest")}


def test_many_tenants_are_split_across_the_cores_by_themselves(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = make_emulator()
    count = 2 * MIN_ITEMS_PER_PROCESS
    path = _tenants_file(tmp_path, [host.url] * count, ["KEY_A"] * count)
    forks: list[int] = []
    real_fork = os.fork

    def counted() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(workers, "usable_cores", lambda: 2)
    monkeypatch.setattr(workers.os, "fork", counted)
    results = plan_tenants(path, [f"t{i:03d}" for i in range(count)], environ=KEYS)
    assert len(forks) == 2
    assert [r.tenant for r in results] == [f"t{i:03d}" for i in range(count)]
    assert all(r.plan is not None and len(r.plan.changes) == 2 for r in results)


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c (the whole group)", "the parent alone"])
def test_ctrl_c_during_a_split_run_stops_it_and_says_so(
    make_emulator: Callable[..., RunningEmulator], tmp_path: Path, to_group: bool
) -> None:
    host = make_emulator(latency_ms=200)
    count = 2 * MIN_ITEMS_PER_PROCESS
    path = _tenants_file(tmp_path, [host.url] * count, ["KEY_A"] * count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_")} | KEYS
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "plan", str(path), "--all-tenants"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while host.emu.stats["list"] < 10 and time.monotonic() < deadline:  # the children are at work
        time.sleep(0.02)
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    # the CLI's words for Ctrl-C during any command (click turns it into its Abort)
    assert err.strip().splitlines()[-1] == "Aborted: nothing more was started." and "Traceback" not in err
    assert host.emu.stats["list"] < count  # it stopped, not finished
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no child of it is left running
