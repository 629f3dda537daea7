"""1,000 tenants planned in 4 shards (``--shard K/4``, as a CI matrix runs them) vs one ``plan --all-tenants``.

    python bench/shards.py [--tenants 1000] [--shards 4] [--pairs 3] [--latency-ms 50]   # also run by bench/run.py

Whole processes, as CI runs them: one ``plan FILE --all-tenants`` against the N shards' processes,
run one after the other (a single runner doing every shard: the overhead of sharding) and all at
once (N runners; on this machine they share its cores, so it shows what N runners would gain only
when the tenants' latency, not the CPU, bounds a run). The tenants are tenant files
(``tenants: tenants/``), every one on one emulator in a child process with ``--latency-ms`` per
answer and 5 custom channels, of which one differs. Rounds alternate the three ways; each figure is
the median over the rounds, and the slowest shard's ratio the median of each round's own ratio
(a round's runs share the machine's load, so the ratio holds better than either time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import serve_seeded
from paired import CLI, ROOT, run_once

CHANNELS = 5


@dataclass
class ShardRow:
    tenants: int
    shards: int
    latency_ms: int
    rounds: int
    one_s: float  # one process, every tenant
    sequential_s: float  # the N shard processes one after the other (sum of their walls)
    parallel_s: float  # the N shard processes at once (wall until the last ends)
    slowest_shard_s: float  # the longest single shard of the sequential runs: what N runners would wait for
    slowest_ratio: float  # the median of each round's slowest shard / that round's one process (paired)
    one_mib: float
    shard_mib: float  # the largest peak of one shard process
    cores: int


def write_agency(folder: Path, url: str, tenants: int) -> Path:
    """A channels file with ``tenants: tenants/`` and one tenant file per tenant, all at ``url``."""
    (folder / "tenants").mkdir()
    for i in range(tenants):
        (folder / "tenants" / f"brand-{i:04d}.yaml").write_text(f"url: {url}\napi_key_env: BENCH_API_KEY\n")
    lines = ["version: 1", "tenants: tenants/", "channels:"]
    for c in range(CHANNELS):
        lines += [
            f"  - name: Bridge {c}",
            "    icon: chat",
            f"    custom_channel_endpoint: https://b{c}.example.com/in",
        ]
    path = folder / "channels.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_parallel(cmds: list[list[str]], env: dict[str, str]) -> float:
    """Wall seconds from starting every command to the last one's end; each must exit 0 or 2."""
    started = time.perf_counter()
    children = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT) for c in cmds]
    for child in children:
        _, err = child.communicate()
        if child.returncode not in (0, 2):
            raise RuntimeError(f"a shard exited {child.returncode}: {err.decode(errors='replace')[-500:]}")
    return time.perf_counter() - started


def measure(tenants: int = 1000, shards: int = 4, rounds: int = 3, latency_ms: int = 50) -> ShardRow:
    seed = [
        {
            "name": f"Bridge {c}",
            "icon": "sms" if c == 0 else "chat",
            "custom_channel_endpoint": f"https://b{c}.example.com/in",
        }
        for c in range(CHANNELS)
    ]
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="omnidesk-shards-") as tmp:
        url = stack.enter_context(serve_seeded(seed, latency_ms))
        path = str(write_agency(Path(tmp), url, tenants))
        env = {**os.environ, "BENCH_API_KEY": "demo", "PYTHONPATH": str(ROOT)}
        one = [*CLI, "plan", path, "--all-tenants", "--detailed-exitcode"]
        parts = [[*one, "--shard", f"{k}/{shards}"] for k in range(1, shards + 1)]
        run_once(one, env)  # unmeasured: imports, the disk cache, the emulator's first answers
        ones, seqs, pars, slowest, ratios, shard_mib = [], [], [], [], [], 0.0
        for _ in range(rounds):
            wall, one_mib = run_once(one, env)
            ones.append(wall)
            each = [run_once(part, env) for part in parts]
            seqs.append(sum(w for w, _ in each))
            slowest.append(max(w for w, _ in each))
            ratios.append(slowest[-1] / wall)
            shard_mib = max(shard_mib, *(m for _, m in each))
            pars.append(run_parallel(parts, env))
        return ShardRow(
            tenants,
            shards,
            latency_ms,
            rounds,
            statistics.median(ones),
            statistics.median(seqs),
            statistics.median(pars),
            statistics.median(slowest),
            statistics.median(ratios),
            one_mib,
            shard_mib,
            os.cpu_count() or 1,
        )


def print_row(row: ShardRow) -> None:
    print(
        f"{row.tenants} tenants, {row.shards} shards, {row.latency_ms} ms per answer, {row.cores} cores, "
        f"median of {row.rounds} rounds (whole processes):"
    )
    print(f"  one process, --all-tenants          {row.one_s:7.2f} s   peak {row.one_mib:6.1f} MiB")
    print(
        f"  {row.shards} shards one after the other      {row.sequential_s:7.2f} s   "
        f"({row.sequential_s / row.one_s:.2f}x one process)"
    )
    print(
        f"  {row.shards} shards at once on this machine {row.parallel_s:7.2f} s   "
        f"({row.parallel_s / row.one_s:.2f}x one process)"
    )
    print(
        f"  slowest single shard ({row.shards} runners)   {row.slowest_shard_s:7.2f} s   "
        f"({row.slowest_ratio:.2f}x one process, paired)   peak {row.shard_mib:6.1f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=3, help="rounds (one, N sequential, N at once)")
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args(argv)
    print_row(measure(args.tenants, args.shards, args.pairs, args.latency_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
