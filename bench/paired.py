"""Every command at its floor (issue 27): whole processes, paired, A and B alternately.

    python bench/paired.py [--pairs 5] [--quick]      # also run by bench/run.py

Each row runs command A and its yardstick B as fresh processes, A B A B ..., after one unmeasured
pair (imports, disk cache). Wall time is ``perf_counter`` around the child; peak memory is the
child's own high-water mark (``ru_maxrss`` from ``os.wait4``). A row shows each side's median and
the median of the per-pair ratios A/B: on a shared machine whose speed drifts, a pair runs under
the same load, so the ratio holds better than either time.

Yardsticks: ``floor.py plan`` (libyaml + jsonschema_rs + the same pages + dict equality), the
workflow's own ``plan`` of the same tenant, and for apply the ideal ``ceil(creates / parallelism)
x latency`` (apply alone, timed in this process, the emulator in a child process).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import serve_seeded
from run import KEY, SECRET_VAR, seeded, write_channels_file

ROOT = Path(__file__).resolve().parent.parent
FLOOR = str(Path(__file__).resolve().parent / "floor.py")
CLI = [sys.executable, "-m", "reconciler"]


@dataclass
class PairRow:
    what: str
    yardstick: str
    a_s: float
    b_s: float
    ratio: float  # median of the per-pair ratios of wall time
    a_mib: float
    b_mib: float
    target: str = ""
    note: str = ""

    @property
    def mem_ratio(self) -> float:
        return self.a_mib / self.b_mib if self.b_mib else float("nan")


def run_once(cmd: list[str], env: dict[str, str], setup: Callable[[], None] | None = None) -> tuple[float, float]:
    """Wall seconds and peak MiB of one run of ``cmd`` (``setup`` first, not timed); it must exit 0 or 2."""
    if setup:
        setup()
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    assert child.stderr is not None
    err = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err.decode(errors='replace')[-500:]}")
    return wall, usage.ru_maxrss / 1024


def pair(
    what: str,
    yardstick: str,
    a: list[str],
    b: list[str],
    env: dict[str, str],
    pairs: int,
    *,
    setup_a: Callable[[], None] | None = None,
    setup_b: Callable[[], None] | None = None,
    target: str = "",
) -> PairRow:
    runs: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for i in range(pairs + 1):
        got = run_once(a, env, setup_a), run_once(b, env, setup_b)
        if i:  # the first pair warms imports and the disk cache
            runs.append(got)
    med = statistics.median
    return PairRow(
        what,
        yardstick,
        med(r[0][0] for r in runs),
        med(r[1][0] for r in runs),
        med(r[0][0] / r[1][0] for r in runs),
        med(r[0][1] for r in runs),
        med(r[1][1] for r in runs),
        target,
    )


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMNIDESK_API_KEY": KEY, SECRET_VAR: "s3cret", **extra}


def plan_rows(folder: Path, pairs: int, sizes: list[int]) -> Iterator[PairRow]:
    env = environment()
    for n in sizes:
        path = folder / f"c{n}.yaml"
        write_channels_file(path, n)
        with serve_seeded(seeded(n, changed=False)) as url:
            yield pair(
                f"plan, {n:,} unchanged",
                "floor.py plan (libyaml + jsonschema_rs)",
                [*CLI, "plan", str(path), "--url", url],
                [sys.executable, FLOOR, "plan", str(path), url],
                env,
                pairs,
                target="<= 1.1x, peak <= 1.2x",
            )


def import_export_rows(folder: Path, pairs: int, n: int) -> Iterator[PairRow]:
    env = environment()
    empty, full, work = folder / "empty.yaml", folder / f"c{n}.yaml", folder / "import.yaml"
    empty.write_text("version: 1\nprune: false\nchannels: []\n", encoding="utf-8")
    write_channels_file(full, n)
    with serve_seeded(seeded(n, changed=False)) as url:
        yield pair(
            f"import adding {n:,}",
            "plan of the same file and tenant",
            [*CLI, "import", str(work), "--url", url],
            [*CLI, "plan", str(empty), "--url", url],
            env,
            pairs,
            setup_a=lambda: shutil.copyfile(empty, work),
            target="<= 2x",
        )
        yield pair(
            "import adding nothing",
            "plan of the same file and tenant",
            [*CLI, "import", str(full), "--url", url],
            [*CLI, "plan", str(full), "--url", url],
            env,
            pairs,
            target="<= 1.2x",
        )
        yield pair(
            f"export of {n:,}",
            "plan of the same tenant",
            [*CLI, "export", "--url", url],
            [*CLI, "plan", str(full), "--url", url],
            env,
            pairs,
            target="<= 1.1x",
        )


def all_tenants_rows(folder: Path, pairs: int, tenants: int, n: int, latency_ms: int) -> Iterator[PairRow]:
    env = environment(BENCH_API_KEY=KEY)
    path = folder / "tenants.yaml"
    with serve_seeded(seeded(n, changed=False), latency_ms=latency_ms) as url:
        write_channels_file(path, n)
        lines = ["version: 1", "tenants:"]
        for i in range(tenants):
            lines += [f"  t{i:04d}:", f"    url: {url}", "    api_key_env: BENCH_API_KEY"]
        body = path.read_text(encoding="utf-8").removeprefix("version: 1\n")
        path.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
        yield pair(
            f"plan --all-tenants, {tenants:,} x {n} @{latency_ms} ms",
            "plan --tenant of one of them",
            [*CLI, "plan", str(path), "--all-tenants"],
            [*CLI, "plan", str(path), "--tenant", "t0000"],
            env,
            pairs,
            target="<= 2x",
        )
        yield pair(
            f"plan --all-tenants, {tenants:,} x {n} @{latency_ms} ms",
            "floor.py all-tenants (the same reads: http.client, 64 threads)",
            [*CLI, "plan", str(path), "--all-tenants"],
            [sys.executable, FLOOR, "all-tenants", str(path)],
            env,
            pairs,
            target="(yardstick)",
        )


def apply_rows(folder: Path, runs: int, creates: int, latency_ms: int, parallelisms: list[int]) -> Iterator[PairRow]:
    """Apply alone (the plan before it is not timed), against its ideal: every wave of creates in flight at once."""
    from reconciler.apply import apply_plan
    from reconciler.client import OmnideskClient
    from reconciler.config import load_channels_file
    from reconciler.planning import make_plan
    from reconciler.secrets import Secrets

    path = folder / f"c{creates}.yaml"
    write_channels_file(path, creates)
    os.environ[SECRET_VAR] = "s3cret"
    desired = load_channels_file(path)
    for parallelism in parallelisms:
        walls = []
        for _ in range(runs):
            with ExitStack() as stack:
                url = stack.enter_context(serve_seeded([], latency_ms=latency_ms))
                client = stack.enter_context(OmnideskClient(url, KEY, parallelism=parallelism))
                plan = make_plan(desired.channels, client.list_channels())
                started = time.perf_counter()
                report = apply_plan(plan, client, Secrets.from_channels(desired.channels), parallelism=parallelism)
                walls.append(time.perf_counter() - started)
                assert all(o.status == "ok" for o in report.outcomes), "a create failed"
        ideal = math.ceil(creates / parallelism) * latency_ms / 1000
        wall = statistics.median(walls)
        yield PairRow(
            f"apply, {creates:,} creates @{latency_ms} ms, parallelism {parallelism}",
            "ideal: ceil(creates / parallelism) x latency",
            wall,
            ideal,
            wall / ideal,
            0,
            0,
            "<= 1.15x" if parallelism <= 8 else "<= 2x",
            note=f"median of {runs} runs, in-process",
        )


def rows(pairs: int, quick: bool) -> Iterator[PairRow]:
    with tempfile.TemporaryDirectory(prefix="omnidesk-paired-") as tmp:
        folder = Path(tmp)
        n = 1000 if quick else 10_000
        yield from plan_rows(folder, pairs, [1, n])
        yield from import_export_rows(folder, pairs, n)
        yield from all_tenants_rows(folder, pairs, 100 if quick else 1000, 20, 20)
        yield from apply_rows(folder, 1 if quick else 3, 200 if quick else 1000, 50, [8, 64])


def print_rows(found: list[PairRow]) -> None:
    head = (
        f"{'whole process, paired (median)':<46} {'A s':>6} {'B s':>6} {'A/B':>6} {'A MiB':>6} {'B MiB':>6} "
        f"{'mem':>5}  target; B is"
    )
    print(head)
    print("-" * len(head))
    for r in found:
        mem = f"{r.a_mib:6.0f} {r.b_mib:6.0f} {r.mem_ratio:4.2f}x" if r.b_mib else f"{'':>6} {'':>6} {'':>5}"
        print(
            f"{r.what:<46} {r.a_s:6.2f} {r.b_s:6.2f} {r.ratio:5.2f}x {mem}  {r.target}; {r.yardstick}"
            + (f" ({r.note})" if r.note else "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1,000 channels, 100 tenants, 200 creates")
    args = parser.parse_args(argv)
    found = []
    for row in rows(args.pairs, args.quick):
        print(f"... {row.what}", file=sys.stderr, flush=True)
        found.append(row)
    print_rows(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
