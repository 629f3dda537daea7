"""The emulator is an independent implementation of the contract (#19): it has its own tables, they
agree with the product's and with the contract's field table (copied in tests/data), and the
emulator imports no contract table from the product, so a mistake on one side cannot be mirrored
by the other and pass every end-to-end test."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import model, paging, responses
from reconciler.emulator import contract as emulator

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "data" / "contract-fields.md"
# Plumbing that encodes no contract: errors, atomic file writes, the limiter.
ALLOWED_IMPORTS = {"reconciler.errors", "reconciler.files", "reconciler.limiter"}
# Every character a field value could plausibly hold, and then some.
CODE_POINTS = [chr(c) for c in range(0x0, 0x300)] + ["\u2028", "\u00a0", "€", "😀"]


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    kind: str  # text | boolean | secret
    regex: str | None
    default: Any
    on_post: bool


def contract_rows() -> list[Row]:
    """The contract's field table and its POST sentence, as written."""
    text = TABLE.read_text(encoding="utf-8")
    post_line = re.search(r"^POST accepts (.*);$", text, flags=re.M)
    assert post_line, "the POST sentence"
    on_post = set(re.findall(r"`([a-z_]+)`", post_line.group(1)))
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| `") else []
        if len(cells) != 3:
            continue
        names = re.findall(r"`([a-z_]+)`", cells[0])
        regex = cells[1][1:-1] if cells[1].startswith("`") else None
        kind = "boolean" if cells[1] == "boolean" else "secret" if cells[1] == "any string" else "text"
        shown = re.match(r"`([^`]*)`", cells[2])
        words = {"''": "", "false": False, "true": True}
        default = None if shown is None else words.get(shown.group(1), shown.group(1))
        rows += [Row(name, kind, regex, default, name in on_post) for name in names]
    return rows


def emulator_rows() -> list[Row]:
    return [Row(f.name, f.kind, f.regex, f.default, f.on_post) for f in emulator.CHANNEL_FIELDS]


def product_rows(fields: dict[str, model.FieldSpec] | None = None, post: tuple[str, ...] | None = None) -> list[Row]:
    fields = model.FIELDS if fields is None else fields
    post = model.POST_FIELDS if post is None else post
    kinds = {"string": "text", "boolean": "boolean", "secret": "secret"}
    return [Row(s.name, kinds[s.kind], s.pattern, s.default, s.name in post) for s in fields.values()]


def differences(
    expected: list[Row], actual: list[Row], accepts: Callable[[str, str], bool], *, same_spelling: bool
) -> list[str]:
    """What differs. Regexes by what they accept (``accepts`` is the matcher of ``actual``'s side,
    the seed's own regex the judge), and with ``same_spelling`` also by how they are written."""
    found: list[str] = []
    if [r.name for r in expected] != [r.name for r in actual]:
        return [f"fields {[r.name for r in actual]} instead of {[r.name for r in expected]}"]
    for want, got in zip(expected, actual, strict=True):
        for attribute in ("kind", "default", "on_post"):
            if getattr(want, attribute) != getattr(got, attribute):
                found.append(
                    f"{want.name}.{attribute}: {getattr(got, attribute)!r} instead of {getattr(want, attribute)!r}"
                )
        if (want.regex is None) != (got.regex is None):
            found.append(f"{want.name}.regex: {got.regex!r} instead of {want.regex!r}")
        elif want.regex is not None and got.regex is not None:
            if same_spelling and want.regex != got.regex:
                found.append(f"{want.name}.regex: {got.regex!r} instead of {want.regex!r}")
            found += [f"{want.name}.regex on {v!r}" for v in _probes() if _seed(want.regex, v) != accepts(got.regex, v)]
    return found


def _probes() -> list[str]:
    return [*CODE_POINTS, "", "ok\n", "a b", "x" * 3]


def _seed(regex: str, value: str) -> bool:
    return re.fullmatch(regex, value) is not None


def test_the_emulator_table_is_the_contract_table_as_written() -> None:
    assert len(contract_rows()) == 8
    assert differences(contract_rows(), emulator_rows(), emulator.matches, same_spelling=True) == []


def test_the_product_table_accepts_exactly_what_the_contract_table_does() -> None:
    assert differences(contract_rows(), product_rows(), model.pattern_matches, same_spelling=False) == []


def test_the_two_tables_agree_with_each_other() -> None:
    assert differences(emulator_rows(), product_rows(), model.pattern_matches, same_spelling=False) == []


@pytest.mark.parametrize("mistake", ["a default", "a regex", "a POST field", "a field"])
def test_a_change_to_one_table_alone_is_caught(mistake: str) -> None:
    fields = dict(model.FIELDS)
    post = model.POST_FIELDS
    if mistake == "a default":
        fields["icon"] = dataclasses.replace(fields["icon"], default="note")
    elif mistake == "a regex":  # the endpoint taking '_', the very character the contract refuses
        fields["custom_channel_endpoint"] = dataclasses.replace(
            fields["custom_channel_endpoint"], pattern=r"^[a-zA-Z0-9.:/\-?&=_]+$"
        )
    elif mistake == "a POST field":
        post = (*post, "custom_channel_warning_en")
    else:
        del fields["custom_channel_warning_nl"]
    assert differences(contract_rows(), product_rows(fields, post), model.pattern_matches, same_spelling=False) != []
    assert differences(emulator_rows(), product_rows(fields, post), model.pattern_matches, same_spelling=False) != []


def test_paths_paging_and_permissions_agree() -> None:
    assert emulator.API_PREFIX == model.CHANNEL_PATH
    assert emulator.MESSAGE_PATH == responses.MESSAGE_PATH
    assert emulator.SECRET == model.SECRET_FIELD and emulator.CUSTOM == model.CUSTOM_TYPE
    assert (emulator.DEFAULT_ITEM_LIMIT, emulator.MAX_ITEM_LIMIT) == (15, 99)
    assert paging.PAGE_SIZE == emulator.MAX_ITEM_LIMIT, "the client asks for the largest page the contract allows"
    calls = {
        "list": ("GET", "/api/v2/channel"),
        "get": ("GET", "/api/v2/channel/7"),
        "create": ("POST", "/api/v2/channel"),
        "update": ("PUT", "/api/v2/channel/7"),
        "delete": ("DELETE", "/api/v2/channel/7"),
        "message": ("POST", "/api/v2/channel/customChannelMessage"),
    }
    assert {kind: responses.required_permission(*call) for kind, call in calls.items()} == emulator.PERMISSION


def test_the_emulator_imports_no_contract_table_from_the_product() -> None:
    imported: set[str] = set()
    for path in sorted((ROOT / "reconciler" / "emulator").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level:
                imported.add("." * node.level + (node.module or ""))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    product = {m for m in imported if m.startswith("reconciler") and not m.startswith("reconciler.emulator")}
    assert product <= ALLOWED_IMPORTS, sorted(product - ALLOWED_IMPORTS)
    assert not {m for m in imported if m.startswith("..")}, "no relative import out of the emulator package"
