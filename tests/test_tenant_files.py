"""``tenants:`` naming a folder, a glob or a list of them: one file per tenant (#22).

Every command that reads tenants (validate, tenants, plan --tenant, plan --all-tenants) sees the
tenants of the files as it sees inline ones; every problem names the file and line it is in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from clihelp import run_cli

from reconciler.schema import validator

CHANNELS = """\
version: 1
tenants: {tenants}
channels:
  - name: SMS gateway
    custom_channel_endpoint: https://${{var:host}}/sms
  - name: Instagram DM
    tenants: [acme]
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def tenant(url: str = "https://acme.omnidesk.com", host: str = "sms.acme.com", env: str = "ACME_KEY") -> str:
    return f"url: {url}\napi_key_env: {env}\nvars: {{host: {host}}}\n"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # messages name files relative to where the command runs
    return tmp_path


@pytest.mark.parametrize(
    "section, files",
    [
        ("tenants/", {"tenants/acme.yaml": tenant(), "tenants/globex.yml": tenant(host="sms.globex.com")}),
        (
            "'tenants/*.yaml'",
            {
                "tenants/acme.yaml": tenant(),
                "tenants/globex.yaml": tenant(host="sms.globex.com"),
                "tenants/notes.txt": "not a tenant",
            },
        ),
        (
            "'brands/**/*.yaml'",
            {"brands/eu/acme.yaml": tenant(), "brands/us/globex.yaml": tenant(host="sms.globex.com")},
        ),
        ("[eu/, 'us/*.yml']", {"eu/acme.yaml": tenant(), "us/globex.yml": tenant(host="sms.globex.com")}),
        ("./", {"acme.yaml": tenant(), "globex.yml": tenant(host="sms.globex.com")}),  # beside it: not itself
        ("[eu/acme.yaml, us/globex.yml]", {"eu/acme.yaml": tenant(), "us/globex.yml": tenant(host="sms.globex.com")}),
    ],
)
def test_folder_glob_and_list_forms_give_the_same_tenants(cwd, section, files):
    write(cwd, {"channels.yaml": CHANNELS.format(tenants=section), **files})
    listed = run_cli(["tenants", "channels.yaml"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split() == ["acme", "globex"]  # sorted by path: independent of the disk's order
    matrix = json.loads(run_cli(["tenants", "channels.yaml", "--format", "json"]).stdout)
    assert matrix["include"][0] == {"tenant": "acme", "api_key_env": "ACME_KEY"}
    valid = run_cli(["validate", "channels.yaml"])
    assert valid.exit_code == 0, valid.output


def test_plan_one_tenant_and_all_tenants_read_the_files(cwd, make_emulator):
    emulators = {name: make_emulator() for name in ("acme", "globex")}
    write(
        cwd,
        {
            "channels.yaml": CHANNELS.format(tenants="tenants/"),
            "tenants/acme.yaml": tenant(emulators["acme"].url),
            "tenants/globex.yaml": tenant(emulators["globex"].url, host="sms.globex.com", env="GLOBEX_KEY"),
        },
    )
    env = {"ACME_KEY": emulators["acme"].key, "GLOBEX_KEY": emulators["globex"].key}
    one = run_cli(["plan", "channels.yaml", "--tenant", "acme", "--format", "json"], env)
    assert one.exit_code == 0, one.output
    assert sorted(c["name"] for c in json.loads(one.stdout)["changes"]) == ["Instagram DM", "SMS gateway"]
    every = run_cli(["plan", "channels.yaml", "--all-tenants", "--format", "json"], env)
    assert every.exit_code == 0, every.output
    plans = {t["tenant"]: t["plan"] for t in json.loads(every.stdout)["tenants"]}
    assert [c["name"] for c in plans["globex"]["changes"]] == ["SMS gateway"]
    endpoint = plans["globex"]["changes"][0]["after"]["custom_channel_endpoint"]
    assert endpoint == "https://sms.globex.com/sms"  # the tenant file's vars


@pytest.mark.parametrize(
    "section, files, expected",
    [
        (
            "nope/",
            {},
            "channels.yaml:2:10: tenants: the tenants folder 'nope/' does not exist (relative to the "
            "channels file's folder): create it, or fix the path",
        ),
        (
            "'tenants/*.yaml'",
            {"tenants/acme.yml": tenant()},
            "channels.yaml:2:10: tenants: 'tenants/*.yaml' names no tenant file (*.yaml or *.yml): add one per tenant, "
            "or fix the path",
        ),
        (
            "[eu/, us/]",
            {"eu/acme.yaml": tenant(), "us/acme.yaml": tenant()},
            "us/acme.yaml:1:1: tenant 'acme' is defined twice: by eu/acme.yaml and by this file "
            "(a tenant's name is its file's name): rename or remove one",
        ),
        (
            "tenants/",
            {"tenants/acme.yaml": tenant() + "urll: https://x.omnidesk.com\n"},
            "tenants/acme.yaml:4:1: tenants.acme.urll: unknown key",
        ),
        (
            "tenants/",
            {"tenants/acme.yaml": "name: acme\n" + tenant()},
            "tenants/acme.yaml:1:1: name: a tenant file's name is its file's name (acme): "
            "remove `name:`, or rename the file",
        ),
        ("tenants/", {"tenants/acme.yaml": tenant(url="ftp://acme")}, "tenants/acme.yaml:1:6: tenants.acme.url: "),
        ("tenants/", {"tenants/acme.yaml": "url: [https://x\n"}, "tenants/acme.yaml:"),
        ("tenants/", {"tenants/acme.yaml": ""}, "tenants/acme.yaml: the tenant file is empty"),
        (
            "tenants/",
            {"tenants/a b.yaml": tenant()},
            "tenants/a b.yaml: the file's name 'a b' cannot be a tenant's "
            "name (letters, digits, '.', '-' and '_', starting with a letter or "
            "digit): rename the file",
        ),
        ("../outside/", {}, "channels.yaml:2:10: tenants: '../outside/' is outside the channels file's folder"),
        ("[]", {}, "channels.yaml:2:10: tenants: an empty list names no tenant file"),
    ],
)
def test_problems_name_the_file_and_line(cwd, section, files, expected):
    write(cwd, {"channels.yaml": CHANNELS.format(tenants=section), **files})
    for command in (
        ["validate", "channels.yaml"],
        ["tenants", "channels.yaml"],
        ["plan", "channels.yaml", "--all-tenants"],
    ):
        result = run_cli(command)
        assert result.exit_code == 1, (command, result.output)
        assert expected in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.output


def test_a_tenant_file_reached_through_a_symlink_outside_is_refused(cwd, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "acme.yaml").write_text(tenant())
    write(cwd, {"channels.yaml": CHANNELS.format(tenants="tenants/")})
    (cwd / "tenants").mkdir()
    os.symlink(outside / "acme.yaml", cwd / "tenants" / "acme.yaml")
    result = run_cli(["validate", "channels.yaml"])
    assert result.exit_code == 1
    assert "tenants/acme.yaml: the file is outside the channels file's folder" in result.stderr


@pytest.mark.parametrize(
    "section, valid",
    [
        ("tenants/", True),
        ("tenants/*.yaml", True),
        (["eu/", "us/*.yml"], True),
        ({"acme": {"url": "https://acme.omnidesk.com"}}, True),
        ("/etc/tenants/", False),
        ([], False),
        (5, False),
        ("", False),
    ],
)
def test_the_schema_editors_use_takes_each_form(section, valid):
    """Editors and check-jsonschema read the file as written, before any tenant file is read in."""
    errors = list(validator().iter_errors({"version": 1, "tenants": section, "channels": []}))
    assert (not errors) is valid, errors


def test_validate_names_ten_tenants_and_counts_the_rest(cwd):
    write(
        cwd,
        {
            "channels.yaml": CHANNELS.format(tenants="tenants/"),
            **{f"tenants/t{i:02d}.yaml": tenant() for i in range(12)},
            "tenants/acme.yaml": tenant(),
        },
    )
    result = run_cli(["validate", "channels.yaml"])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout == "channels.yaml: valid (2 channels; tenants: acme, t00, t01, t02, t03, t04, t05, t06, "
        "t07, t08 and 3 more)\n"
    )
