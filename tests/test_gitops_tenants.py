"""``omnidesk-channels tenants``: names for scripts, a GitHub Actions matrix for fan-out pipelines."""

from __future__ import annotations

import json
from pathlib import Path

from clihelp import run_cli

FILE = """\
version: 1
tenants:
  brand-b-staging:
    url: https://brand-b-staging.omnidesk.com
    api_key_env: OMNIDESK_BRAND_B_STAGING_KEY
  brand-a:
    url: https://brand-a.omnidesk.com
channels: []
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_text_is_names_only_in_file_order(tmp_path: Path):
    result = run_cli(["tenants", write(tmp_path, FILE)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "brand-b-staging\nbrand-a\n", "")


def test_json_is_a_matrix_with_each_tenants_key_variable(tmp_path: Path):
    result = run_cli(["tenants", write(tmp_path, FILE), "--format", "json"])
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1  # one line: fits "echo matrix=$(...) >> $GITHUB_OUTPUT"
    assert json.loads(result.stdout) == {
        "include": [
            {"tenant": "brand-b-staging", "api_key_env": "OMNIDESK_BRAND_B_STAGING_KEY"},
            {"tenant": "brand-a", "api_key_env": "OMNIDESK_API_KEY"},  # the default key variable
        ]
    }


def test_a_file_without_tenants_is_an_error(tmp_path: Path):
    result = run_cli(["tenants", write(tmp_path, "version: 1\nchannels: []\n"), "--format", "json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "defines no tenants" in result.stderr


def test_problems_in_the_tenants_section_are_reported(tmp_path: Path):
    result = run_cli(["tenants", write(tmp_path, FILE.replace("url: https://brand-a.omnidesk.com", "url: 42"))])
    assert result.exit_code == 1 and "channels.yaml:7" in result.stderr


def test_every_listed_tenant_plans(make_emulator, tmp_path: Path):
    """The fan-out as a pipeline runs it: list the tenants, then one plan per tenant with its own key."""
    a, b = make_emulator(), make_emulator(api_keys={"key-b": {"CHANNEL_READ"}})
    text = (
        FILE.replace("https://brand-b-staging.omnidesk.com", b.url)
        .replace("https://brand-a.omnidesk.com", a.url)
        .replace("channels: []", "channels:\n  - name: SMS gateway\n")
    )
    path = write(tmp_path, text)
    matrix = json.loads(run_cli(["tenants", path, "--format", "json"]).stdout)
    keys = {a.url: a.key, b.url: "key-b"}
    urls = {"brand-a": a.url, "brand-b-staging": b.url}
    for job in matrix["include"]:
        env = {job["api_key_env"]: keys[urls[job["tenant"]]]}
        result = run_cli(["plan", path, "--tenant", job["tenant"], "--detailed-exitcode"], env)
        assert result.exit_code == 2, result.output
        assert result.stdout.startswith(f"Plan: 1 to create, 0 to update, 0 to delete. Target: {job['tenant']} (")
