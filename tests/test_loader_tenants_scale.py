"""Linear tenants: validate and plan grow with the file, not with tenants times tenants.

Every view of ``validate`` copied the whole tenants table (3,000 tenants: 366 MB). The guard is
a ratio, not a timing: peak memory of 1,500 tenants against 500 is about 3 when linear and about
9 when quadratic, whatever the machine's speed or load.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clihelp import run_cli

from reconciler.config import load_all_views, load_channels_file

CHANNELS = 5


def tenants_file(folder: Path, tenants: int) -> Path:
    lines = ["version: 1", "tenants:"]
    lines += [f"  t{i}: {{url: https://t{i}.omnidesk.com, vars: {{host: h{i}.example.com}}}}" for i in range(tenants)]
    lines.append("channels:")
    for i in range(CHANNELS):
        lines += [f"  - name: Channel {i}", f"    custom_channel_endpoint: https://${{var:host}}/hook{i}"]
    lines += ["  - name: Only two", "    tenants: [t1, t2]"]
    path = folder / f"tenants{tenants}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def peak_bytes(load: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        load()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("tenants")
    return {n: tenants_file(folder, n) for n in (500, 1500, 3000)}


def test_validate_memory_grows_linearly_with_tenants(files: dict[int, Path]) -> None:
    small, large = (peak_bytes(lambda n=n: load_all_views(files[n])) for n in (500, 1500))
    assert large / small < 4.5, f"3x the tenants took {large / small:.1f}x the memory: quadratic?"


def test_plan_memory_grows_linearly_with_tenants(files: dict[int, Path]) -> None:
    small, large = (peak_bytes(lambda n=n: load_channels_file(files[n], tenant="t2")) for n in (500, 1500))
    assert large / small < 4.5, f"3x the tenants took {large / small:.1f}x the memory: quadratic?"


def test_views_share_one_tenants_table_and_the_channels_without_vars(files: dict[int, Path]) -> None:
    views = load_all_views(files[500])
    assert len(views) == 501
    tables = {id(view.tenants) for view in views.values()}
    assert len(tables) == 1, "each view copied the tenants table"
    only_two = [c for view in views.values() for c in view.channels if c.name == "Only two"]
    assert len(only_two) == 2 and only_two[0] is only_two[1], "a channel without ${var:...} is resolved once"
    t5 = views["t5"]
    assert [c.fields["custom_channel_endpoint"] for c in t5.channels] == [
        f"https://h5.example.com/hook{i}" for i in range(CHANNELS)
    ]


def test_validate_of_3000_tenants_through_the_cli(files: dict[int, Path]) -> None:
    result = run_cli(["validate", str(files[3000])])
    assert result.exit_code == 0, result.output
    assert "valid (6 channels; tenants: t0, t1," in result.stdout


def test_a_problem_in_many_tenants_names_ten_and_counts_the_rest(tmp_path: Path) -> None:
    lines = ["version: 1", "tenants:"]
    lines += [
        f"  t{i}: {{url: https://t{i}.omnidesk.com, vars: {{host: {'ok' if i < 3 else 'bad_host'}}}}}"
        for i in range(40)
    ]
    lines += ["channels:", "  - name: A", "    custom_channel_endpoint: https://${var:host}/x"]
    path = tmp_path / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 1
    (problem,) = [line for line in result.stderr.splitlines() if "bad_host" in line]
    assert problem.endswith("[tenants t3, t4, t5, t6, t7, t8, t9, t10, t11, t12 and 27 more]")
