"""The floor for plan and start-up: the least a script can do for the same answer, against which we measure.

    python bench/floor.py [--n 3000 10000] [--repeat 5]
    python bench/floor.py plan FILE URL     # the compiled floor (issue 27) as one process

Plan floor (issue 15): libyaml loads the file into plain Python objects, jsonschema validates it
against the shipped schema, the same list pages come over HTTP from the emulator (one plain
``httpx.Client``, page after page), and each channel of the file is compared with the tenant's
channel of the same name by dict equality (the secret aside: it is write-only). No positions, no
templates, no messages: whatever we do on top of that is our overhead.

Both sides run against the same emulator, served by a separate process (``serve_seeded``) so
that its work never competes with the measured code for the GIL. Runs alternate (ours, floor,
ours, ...) and each side's best run counts: the machine is shared, and the minimum is the run the
least disturbed by others.

Start-up floor: ``python -c`` importing yaml and jsonschema, loading and validating the file.

All-tenants floor (issue 27, ``floor_all_tenants``): the same for every tenant of a file, the file
loaded once, 64 tenants at once in threads of one process, over bare ``http.client`` connections;
what ``plan --all-tenants`` is measured against besides one tenant's plan
(``python floor.py all-tenants FILE``).

Compiled floor (issue 27, ``floor_plan_rs``): the same with ``jsonschema_rs``, the validator plan
itself uses for a valid file, measured as whole processes against ``plan`` (``bench/paired.py``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Processes are measured as a user runs them: an installed wheel carries compiled bytecode (pip
# compiles it at install), as the floor's libraries do. Under PYTHONDONTWRITEBYTECODE (some CI
# images set it) a checkout would compile every module of ours on every run, up to 0.1 s a process
# that no user pays; without it, the warm-up run of each measurement writes the bytecode.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.path.insert(0, str(ROOT))
SCHEMA = ROOT / "schemas" / "channels.schema.json"
KEY = "demo"
PAGE_SIZE = 99

# The start-up floor, run as ``python -c FLOOR_STARTUP FILE``.
FLOOR_STARTUP = (
    "import sys, json, yaml, jsonschema\n"
    "schema = json.load(open(sys.argv[1]))\n"
    "data = yaml.load(open(sys.argv[2], encoding='utf-8'), Loader=yaml.CSafeLoader)\n"
    "errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))\n"
    "print(f'{sys.argv[2]}: valid' if not errors else errors[0].message)\n"
)


def floor_plan(path: Path, url: str, key: str = KEY) -> int:
    """The floor of ``plan FILE``: load, validate, read every page, compare; returns the channels that differ."""
    import httpx
    import jsonschema
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=yaml.CSafeLoader)
    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if errors:
        raise SystemExit(f"{path}: {errors[0].message}")
    remote: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, headers={"apiKey": key}) as client:
        start, total = 0, None
        while total is None or start < total:
            page = client.get("/api/v2/channel", params={"itemStart": start, "itemLimit": PAGE_SIZE}).json()
            total = page["itemTotal"]
            remote.update((item["name"], item) for item in page["items"])
            start += len(page["items"]) or total
    changed = 0
    for channel in data["channels"]:
        want = {k: v for k, v in channel.items() if k != "custom_channel_secret"}  # write-only: never listed
        have = remote.get(want["name"], {})
        if {k: have.get(k) for k in want} != want:
            changed += 1
    return changed


def _load_valid_rs(path: Path) -> Any:
    """The file as libyaml loads it, once ``jsonschema_rs`` finds it valid against the shipped schema."""
    import jsonschema_rs
    import yaml

    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=yaml.CSafeLoader)
    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    if not jsonschema_rs.validator_for(schema).is_valid(data):
        raise SystemExit(f"{path}: not valid")
    return data


def floor_plan_rs(path: Path, url: str, key: str = KEY) -> int:
    """The floor of ``plan FILE`` with the compiled validator plan uses (issue 27): libyaml,
    ``jsonschema_rs``, the same pages, dict equality. Run as a process: ``python floor.py plan FILE URL``."""
    import httpx

    data = _load_valid_rs(path)
    remote: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, headers={"apiKey": key}) as client:
        start, total = 0, None
        while total is None or start < total:
            page = client.get("/api/v2/channel", params={"itemStart": start, "itemLimit": PAGE_SIZE}).json()
            total = page["itemTotal"]
            remote.update((item["name"], item) for item in page["items"])
            start += len(page["items"]) or total
    changed = 0
    for channel in data["channels"]:
        want = {k: v for k, v in channel.items() if k != "custom_channel_secret"}  # write-only: never listed
        have = remote.get(want["name"], {})
        if {k: have.get(k) for k in want} != want:
            changed += 1
    return changed


def floor_all_tenants(path: Path, threads: int = 64) -> int:
    """The floor of ``plan FILE --all-tenants``: the file loaded and validated once, then every
    tenant's pages read with its own key, ``threads`` tenants at once, each thread on one kept-open
    ``http.client`` connection (the barest client Python has: no pool, no limits, plain http only),
    each channel compared by dict equality. Returns the channels that differ, over every tenant.
    Run as a process: ``python floor.py all-tenants FILE``."""
    import http.client
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    data = _load_valid_rs(path)
    wanted = [{k: v for k, v in c.items() if k != "custom_channel_secret"} for c in data["channels"]]
    local = threading.local()

    def one(tenant: dict[str, Any]) -> int:
        url = urlsplit(tenant["url"])
        connections = local.__dict__.setdefault("connections", {})
        if url.netloc not in connections:
            connections[url.netloc] = http.client.HTTPConnection(url.hostname or "", url.port)
        connection, headers = connections[url.netloc], {"apiKey": os.environ[tenant["api_key_env"]]}
        remote: dict[str, dict[str, Any]] = {}
        start, total = 0, None
        while total is None or start < total:
            connection.request("GET", f"/api/v2/channel?itemStart={start}&itemLimit={PAGE_SIZE}", headers=headers)
            page = json.loads(connection.getresponse().read())
            total = page["itemTotal"]
            remote.update((item["name"], item) for item in page["items"])
            start += len(page["items"]) or total
        return sum({k: remote.get(w["name"], {}).get(k) for k in w} != w for w in wanted)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(one, data["tenants"].values()))


@contextmanager
def serve_seeded(items: list[dict[str, Any]], latency_ms: int = 0) -> Iterator[str]:
    """An emulator holding ``items`` (answering after ``latency_ms``), served over HTTP by a child
    process; yields its URL.

    The child serves until its standard input closes, so it never outlives this process.
    """
    code = (
        "import json, sys\n"
        "from reconciler.emulator import Emulator, serve_in_thread\n"
        f"emu = Emulator(seed=1, latency_ms={latency_ms})\n"
        "emu.seed_channels(json.load(open(sys.argv[1], encoding='utf-8')))\n"
        "server = serve_in_thread(emu).start()\n"
        "print(server.url, flush=True)\n"
        "sys.stdin.read()\n"
        "server.stop()\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as seed:
        json.dump(items, seed)
        seed.flush()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", code, seed.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            if not url.startswith("http"):
                raise RuntimeError(f"the emulator did not start: {url!r}")
            yield url
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def best_of(repeat: int, *runs: Callable[[], Any]) -> list[float]:
    """Each run's best wall time over ``repeat`` alternating rounds (a collection before each)."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            gc.collect()
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def fresh_process(*args: str) -> Callable[[], None]:
    """A run of ``python ARGS`` as a fresh process, for ``best_of``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return lambda: subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True) and None


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["plan"]:  # the compiled floor as a process of its own
        print(floor_plan_rs(Path(sys.argv[2]), sys.argv[3]))
        return 0
    if argv is None and sys.argv[1:2] == ["all-tenants"]:  # the floor of plan --all-tenants, as a process
        print(floor_all_tenants(Path(sys.argv[2])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[3000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    from run import SECRET_VAR, seeded, write_channels_file

    os.environ.setdefault(SECRET_VAR, "s3cret")
    for n in args.n:
        path = Path(f"/tmp/omnidesk-floor-{n}.yaml")
        write_channels_file(path, n)
        with serve_seeded(seeded(n, changed=False)) as url:
            (floor,) = best_of(args.repeat, functools.partial(floor_plan, path, url))
        print(f"plan floor, {n} channels: {floor:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
