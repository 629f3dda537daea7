"""The wire matrix (#19): key form x key source x paging x tenant size x command, end to end through
the CLI against the emulator over real HTTP.

Each variant was tested alone before, and the bug lived where two of them met (the query form's key
replaced the paging parameters: every page was the first one). So the variants are crossed: the
cells are a covering array built from the orthogonal array OA(25, 5^6) over GF(5), in which every
pair of variants of any two axes meets in at least one cell (``test_every_pair_of_variants_meets``
checks it). Every cell, whatever its command, must end the same way:

* the tenant holds exactly what the command should have left (nothing duplicated, nothing lost);
* an export holds every custom channel, and a plan of that export is empty;
* every list request carried the paging the client means (``itemStart`` advancing by what was
  received, ``itemLimit=99``) next to the key in the form asked for, the emulator accepting only
  that form; and ``--verbose`` logged each URL exactly as it was received, with the key redacted.

Two served emulators (target, and clone's source) are shared by every cell: each cell plugs fresh
emulators (state and knobs) into them.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from clihelp import Result, run_cli

from reconciler.emulator import ALL_PERMISSIONS, Emulator, serve_in_thread

KEY = "mx-KEY+/8f="  # characters a URL must encode: redaction must catch the encoded form too
ENCODED_KEYS = ("mx-KEY%2B%2F8f%3D", "mx-KEY%2B/8f%3D")
BUILT_INS = 5  # the emulator's built-in channels, listed with the custom ones
PAGE = 99
CAPPED = 40

FORMS = ("header", "query", "authorization")
SOURCES = ("flag", "env", "tenant")
PAGINGS: dict[str, dict[str, Any]] = {
    "paged": {},
    "capped": {"max_item_limit": CAPPED},  # pages shorter than asked although more remain
    "no-total": {"quirks": ["no-item-total"]},
    "ignored": {"quirks": ["no-paging"]},  # every page is the whole list
    "typed": {"list_type": "channels"},  # the docs never show a list's type
}
SIZES = {  # custom channels; the list holds BUILT_INS more
    "one-page": 12,
    "multiple": 2 * PAGE - BUILT_INS,  # exactly two full pages: the end is an empty page or the total
    "many": 5 * PAGE + 37 - BUILT_INS,  # six pages (fourteen when capped)
}
COMMANDS = ("plan", "export", "import", "apply", "clone")


@dataclass(frozen=True)
class Cell:
    paging: str
    command: str
    form: str
    source: str
    size: str

    @property
    def id(self) -> str:
        return f"{self.command}-{self.paging}-{self.size}-{self.form}-by-{self.source}"


def cells() -> list[Cell]:
    """OA(25, 5^6): row (a, b) holds a, b, a+b, a+2b, a+3b (mod 5); any two columns take every pair
    of values once. Axes of 3 variants take the value mod 3, which keeps every pair present."""
    out = []
    for a, b in itertools.product(range(5), repeat=2):
        paging, command, form, source, size = a, b, (a + b) % 5, (a + 2 * b) % 5, (a + 3 * b) % 5
        out.append(
            Cell(list(PAGINGS)[paging], COMMANDS[command], FORMS[form % 3], SOURCES[source % 3], list(SIZES)[size % 3])
        )
    return out


CELLS = cells()


def test_every_pair_of_variants_meets() -> None:
    axes = {
        "paging": list(PAGINGS),
        "command": list(COMMANDS),
        "form": list(FORMS),
        "source": list(SOURCES),
        "size": list(SIZES),
    }
    for (one, ones), (other, others) in itertools.combinations(axes.items(), 2):
        met = {(getattr(c, one), getattr(c, other)) for c in CELLS}
        assert met == set(itertools.product(ones, others)), (one, other)


# -- the shared servers ---------------------------------------------------------------------------


class Plug:
    """Stands in for an Emulator behind a running server; each cell plugs in a fresh one."""

    def __init__(self) -> None:
        self.emu = Emulator()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.emu, name)


@dataclass
class Served:
    plug: Plug
    url: str
    received: list[dict[str, str]] = field(default_factory=list)  # the query of every list request

    def plug_in(self, form: str, paging: str, channels: list[dict[str, Any]]) -> Emulator:
        self.received.clear()
        emu = Emulator(api_keys={KEY: set(ALL_PERMISSIONS)}, auth=form, before_request=self._record, **PAGINGS[paging])
        emu.seed_channels(channels)
        self.plug.emu.close()
        self.plug.emu = emu
        return emu

    def _record(self, method: str, path: str, query: dict[str, str]) -> None:
        if method == "GET" and path.rstrip("/") == "/api/v2/channel":
            self.received.append(dict(query))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Served, Served]]:
    plugs = [Plug(), Plug()]
    running = [serve_in_thread(cast(Emulator, plug)).start() for plug in plugs]
    yield Served(plugs[0], running[0].url), Served(plugs[1], running[1].url)
    for server, plug in zip(running, plugs, strict=True):
        server.stop()
        plug.emu.close()


# -- the tenants ----------------------------------------------------------------------------------


def channel(i: int) -> dict[str, Any]:
    return {"name": f"Ch {i:03d}", "icon": "sms", "custom_channel_endpoint": f"https://h{i}.example.com/in"}


def seeded(n: int) -> list[dict[str, Any]]:
    return [channel(i) for i in range(n)]


def desired(n: int) -> list[dict[str, Any]]:
    """The seeded tenant with three deletes, two updates and three creates (one with a PUT-only
    field), spread over the first, a middle and the last page."""
    gone = {0, n // 2, n - 1}
    changed = {1, n - 2}
    out = []
    for i in range(n):
        if i in gone:
            continue
        ch = channel(i)
        if i in changed:
            ch["icon"] = "chat-bubble"
        out.append(ch)
    out += [
        {"name": f"New {j}", "icon": "note", "custom_channel_warning_en": "Replies within 1 hour"} for j in range(3)
    ]
    return out


def secret_env(channels: list[dict[str, Any]]) -> dict[str, str]:
    """A value for each channel's ${env:NAME_SECRET} placeholder (clone creates need them)."""
    return {re.sub(r"[^A-Z0-9]+", "_", c["name"].upper()) + "_SECRET": "s3cret" for c in channels}


def as_yaml(channels: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"channels": channels}, sort_keys=False, allow_unicode=True)


def custom(emu: Emulator) -> list[dict[str, Any]]:
    fields = ("name", "icon", "custom_channel_endpoint", "custom_channel_warning_en")
    return [{k: c[k] for k in fields} for c in emu.channels() if c["type"] == "custom"]


def by_name(channels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    full = [{"icon": "chat", "custom_channel_endpoint": "", "custom_channel_warning_en": "", **c} for c in channels]
    return {c["name"]: c for c in full}


def names_in(path: Path) -> list[str]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [c["name"] for c in loaded["channels"]]


# -- one cell -------------------------------------------------------------------------------------


@dataclass
class Run:
    """How this cell reaches its tenants: the arguments and environment its key source needs."""

    cell: Cell
    tmp: Path
    target: Served
    source: Served

    def file(self, channels: list[dict[str, Any]], name: str = "channels.yaml") -> Path:
        head: dict[str, Any] = {"version": 1}
        if self.cell.source == "tenant" or self.cell.command == "clone":
            tenants = {"target": self._tenant(self.target), "source": self._tenant(self.source)}
            head["tenants"] = tenants
        path = self.tmp / name
        path.write_text(yaml.safe_dump(head, sort_keys=False) + as_yaml(channels), encoding="utf-8")
        return path

    def _tenant(self, served: Served) -> dict[str, str]:
        tenant = {"url": served.url, "api_key_env": "MATRIX_KEY"}
        if self.cell.source == "tenant":
            tenant["auth"] = self.cell.form
        return tenant

    def where(self) -> list[str]:
        """The target as this cell names it: its tenant, or --url."""
        if self.cell.source == "tenant":
            return ["--tenant", "target"]
        return ["--url", self.target.url]

    def cli(self, args: list[str], extra_env: dict[str, str] | None = None) -> Result:
        env = {"MATRIX_KEY": KEY, "OMNIDESK_API_KEY": KEY, **(extra_env or {})}
        if self.cell.source == "flag":
            args = [*args, "--auth", self.cell.form]
        elif self.cell.source == "env":
            env["OMNIDESK_AUTH"] = self.cell.form
        result = run_cli([*args, "--verbose"], env)
        assert KEY not in result.output and not any(e in result.output for e in ENCODED_KEYS), result.output
        assert "Traceback" not in result.output, result.output
        return result


def logged_list_queries(result: Result, base: str) -> list[dict[str, str]]:
    """The query of every list call to ``base`` that ``--verbose`` logged, as logged."""
    urls = re.findall(r"^http: GET (\S+) -> ", result.stderr, flags=re.M)
    lists = [urlsplit(u) for u in urls if u.startswith(base + "/")]
    return [dict(parse_qsl(u.query)) for u in lists if u.path.rstrip("/") == "/api/v2/channel"]


def assert_paging_sent(cell: Cell, served: Served, result: Result, listed: int) -> None:
    """Every list request carried the paging and the key as the cell says, and was logged as sent."""
    received = served.received
    assert received, "the command read the list"
    starts = set()
    for query in received:
        assert query.get("itemLimit") == str(PAGE), query
        assert ("apiKey" in query) == (cell.form == "query"), query
        starts.add(int(query["itemStart"]))
    step = CAPPED if cell.paging == "capped" else PAGE
    if cell.paging == "ignored":
        expected = {0}
    elif cell.paging == "no-total":
        # Until a page shorter than the longest one seen, or an empty one.
        expected = set(range(0, listed, step)) | ({listed} if listed % step == 0 or listed < step else set())
    else:
        expected = set(range(0, listed, step))
    assert starts == expected, (sorted(starts), sorted(expected))
    shown = [{k: ("[redacted]" if k == "apiKey" else v) for k, v in q.items()} for q in received]
    as_logged = logged_list_queries(result, served.url)
    key = lambda q: json.dumps(q, sort_keys=True)  # noqa: E731
    assert Counter(map(key, as_logged)) == Counter(map(key, shown)), "--verbose shows each URL as it was sent"
    received.clear()


def assert_exported_and_planned_empty(run: Run, emu: Emulator) -> None:
    """An export holds every custom channel of the tenant, once; a plan of it changes nothing."""
    out = run.tmp / "export.yaml"
    base = [str(run.file([], "tenants.yaml"))] if run.cell.source == "tenant" else []
    export = run.cli(["export", *base, *run.where(), "--out", str(out)])
    assert export.exit_code == 0, export.output
    names = names_in(out)
    tenant = custom(emu)
    assert len(names) == len(set(names)) == len(tenant), "every channel exactly once"
    assert set(names) == {c["name"] for c in tenant}
    assert_paging_sent(run.cell, run.target, export, len(tenant) + BUILT_INS)
    again = run.cli(["plan", str(out), *run.where(), "--detailed-exitcode"])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_cell(cell: Cell, servers: tuple[Served, Served], tmp_path: Path) -> None:
    target, source = servers
    n = SIZES[cell.size]
    before, after = seeded(n), desired(n)
    run = Run(cell, tmp_path, target, source)
    emu = target.plug_in(cell.form, cell.paging, before)
    listed = n + BUILT_INS
    if cell.command == "plan":
        result = run.cli(["plan", str(run.file(after)), *run.where(), "--prune", "--format", "json"])
        assert result.exit_code == 0, result.output
        planned = {(c["action"], c["name"]) for c in json.loads(result.stdout)["changes"]}
        assert planned == expected_changes(before, after)
        assert by_name(custom(emu)) == by_name(before), "plan writes nothing"
    elif cell.command == "apply":
        result = run.cli(["apply", str(run.file(after)), *run.where(), "--prune", "--yes"])
        assert result.exit_code == 0, result.output
        assert_applied_exactly_the_plan(result, emu, before, after)
    elif cell.command == "export":
        out = tmp_path / "exported.yaml"
        base = [str(run.file([], "tenants.yaml"))] if cell.source == "tenant" else []
        result = run.cli(["export", *base, *run.where(), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert names_in(out) == [c["name"] for c in before]
    elif cell.command == "import":
        path = run.file(before[:2])
        result = run.cli(["import", str(path), *run.where()])
        assert result.exit_code == 0, result.output
        assert names_in(path) == [c["name"] for c in before]
    else:
        run.source.plug_in(cell.form, cell.paging, after)
        path = run.file([])
        result = run.cli(
            ["clone", str(path), "--from", "source", "--to", "target", "--prune", "--yes"], secret_env(after)
        )
        assert result.exit_code == 0, result.output
        assert_applied_exactly_the_plan(result, emu, before, after)
        assert_paging_sent(cell, run.source, result, len(after) + BUILT_INS)
    assert_paging_sent(cell, target, result, listed)
    assert_exported_and_planned_empty(run, emu)


def assert_applied_exactly_the_plan(
    result: Result, emu: Emulator, before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> None:
    """The plan shown is the expected one, the calls made are its calls, the tenant is the file."""
    counts = Counter(action for action, _ in expected_changes(before, after))
    # the summary line may lead with the high-impact changes (deletes) before its counts
    summary = result.stdout.splitlines()[0]
    assert summary.startswith("Plan: ") and (
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete." in summary
    ), result.stdout[:300]
    assert (
        f"Apply: {counts['create']} created, {counts['update']} updated, {counts['delete']} deleted "
        f"(of {sum(counts.values())} planned)."
    ) in result.stderr, result.stderr[-2000:]
    # Each create sets a PUT-only field: a POST, then a PUT to the new id.
    calls = {kind: emu.stats[kind] for kind in ("create", "update", "delete")}
    assert calls == {
        "create": counts["create"],
        "update": counts["update"] + counts["create"],
        "delete": counts["delete"],
    }, calls
    assert by_name(custom(emu)) == by_name(after)
    assert len(custom(emu)) == len(after), "nothing duplicated"


def expected_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[tuple[str, str]]:
    old, new = by_name(before), by_name(after)
    return (
        {("create", n) for n in new.keys() - old.keys()}
        | {("delete", n) for n in old.keys() - new.keys()}
        | {("update", n) for n in old.keys() & new.keys() if old[n] != new[n]}
    )
