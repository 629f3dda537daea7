"""The channels file loader: what it returns, which channels it keeps, and what it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.config import MAX_FILE_BYTES, load_all_views, load_channels_file, load_tenants
from reconciler.errors import ConfigError, TargetError
from reconciler.model import MANAGED_FIELDS, SecretRef, Tenant

EXAMPLE = Path(__file__).parent.parent / "examples" / "channels.yaml"

TENANTS = """\
version: 1
tenants:
  staging: {url: https://acme-staging.omnidesk.com, api_key_env: STAGING_KEY, vars: {host: s.acme.com}}
  production: {url: https://acme.omnidesk.com, vars: {host: acme.com}}
channels:
  - name: Shared
    custom_channel_endpoint: https://${var:host}/hook
  - name: Staging only
    tenants: [staging]
  - name: Production only
    tenants: [production]
"""


def write(tmp_path: Path, text: str, name: str = "channels.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(path: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_channels_file(path, **kwargs)  # type: ignore[arg-type]
    return [f"{p.line}:{p.column}: {p.path}: {p.message}" for p in info.value.problems]


def test_loads_the_example_for_a_tenant() -> None:
    loaded = load_channels_file(EXAMPLE, tenant="production", environ={"SMS_BRIDGE_SECRET": "s"})
    assert loaded.tenant == "production" and loaded.prune is False and loaded.path == str(EXAMPLE)
    assert [c.name for c in loaded.channels] == ["SMS gateway", "Instagram DM"]
    sms, insta = loaded.channels
    assert set(sms.fields) == set(MANAGED_FIELDS)
    assert sms.fields["custom_channel_endpoint"] == "https://bridge.acme.com/sms/omnidesk"
    assert sms.fields["include_signature"] is True
    assert sms.fields["custom_channel_available_in_quick_ticket"] is False
    assert sms.secret == SecretRef("s", "SMS_BRIDGE_SECRET")
    assert insta.secret == SecretRef(None, "INSTAGRAM_BRIDGE_SECRET")  # unset: the planner decides
    assert insta.previous_names == ("Instagram bridge",)
    assert insta.fields["custom_channel_warning_en"] == ""
    assert (sms.line, insta.line) == (15, 22)
    assert loaded.tenants["staging"] == Tenant(
        "staging",
        "https://acme-staging.omnidesk.com",
        "OMNIDESK_STAGING_KEY",
        {"bridge_host": "bridge.staging.acme.com"},
    )


def test_defaults_fill_every_managed_field(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nprune: true\nchannels:\n  - name: Bare\n")
    loaded = load_channels_file(path, environ={})
    assert loaded.prune is True
    assert dict(loaded.channels[0].fields) == {
        "name": "Bare",
        "icon": "chat",
        "custom_channel_endpoint": "",
        "custom_channel_warning_en": "",
        "custom_channel_warning_nl": "",
        "include_signature": False,
        "custom_channel_available_in_quick_ticket": False,
    }
    assert loaded.channels[0].secret is None


@pytest.mark.parametrize(
    ("tenant", "names"),
    [("staging", ["Shared", "Staging only"]), ("production", ["Shared", "Production only"])],
)
def test_a_tenant_keeps_its_own_and_the_shared_channels(tmp_path: Path, tenant: str, names: list[str]) -> None:
    loaded = load_channels_file(write(tmp_path, TENANTS), tenant=tenant, environ={})
    assert [c.name for c in loaded.channels] == names


def test_without_a_tenant_only_unlimited_channels_are_kept(tmp_path: Path) -> None:
    text = TENANTS.replace("https://${var:host}/hook", "https://x.com/hook")
    loaded = load_channels_file(write(tmp_path, text), environ={})
    assert [c.name for c in loaded.channels] == ["Shared"]
    assert loaded.tenant is None


def test_var_without_a_tenant_says_pass_tenant(tmp_path: Path) -> None:
    assert problems(write(tmp_path, TENANTS), environ={}) == [
        "7:30: channels[0].custom_channel_endpoint: ${var:host} needs a tenant: pass tenant= "
        "(known tenants: staging, production)"  # the CLI says --tenant (test_front_door)
    ]


def test_var_in_a_file_without_tenants(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nchannels:\n  - name: A\n    icon: ${var:icon}\n")
    assert problems(path, environ={}) == [
        "4:11: channels[0].icon: ${var:icon}: the file defines no tenants, so there are no vars: "
        "add a `tenants:` section with `vars:`"
    ]


def test_tenant_on_a_file_without_tenants(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nchannels: []\n")
    with pytest.raises(TargetError) as info:
        load_channels_file(path, tenant="x")
    assert str(info.value) == (
        "unknown tenant 'x' (the file defines no tenants: add a tenants: section, or leave out tenant=)"
    )


def test_all_views_tag_problems_with_their_tenants(tmp_path: Path) -> None:
    text = TENANTS.replace("vars: {host: acme.com}", "vars: {host: acme_x.com}")
    with pytest.raises(ConfigError) as info:
        load_all_views(write(tmp_path, text), environ={})
    (problem,) = info.value.problems
    assert problem.message.endswith("'_' is not allowed [tenant production]")
    assert "(after substitution)" in problem.message


def test_all_views_of_a_valid_file(tmp_path: Path) -> None:
    views = load_all_views(write(tmp_path, TENANTS), environ={})
    assert list(views) == [None, "staging", "production"]
    assert [c.name for c in views[None].channels] == ["Shared"]


def test_env_substitution_and_the_literal_escape(tmp_path: Path) -> None:
    text = (
        "version: 1\nchannels:\n  - name: ${env:N} x\n"
        "    custom_channel_secret: a$${b}${env:S}\n    custom_channel_warning_en: Costs $$5\n"
    )
    loaded = load_channels_file(write(tmp_path, text), environ={"N": "Shop", "S": "zz"})
    (channel,) = loaded.channels
    assert channel.name == "Shop x"
    assert channel.secret == SecretRef("a${b}zz", "S")
    assert channel.fields["custom_channel_warning_en"] == "Costs $$5"  # only $${ is an escape


def test_a_literal_dollar_brace_is_refused_for_the_brace_it_writes(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nchannels:\n  - name: A\n    custom_channel_warning_en: $${env:X}\n")
    (message,) = problems(path, environ={})
    assert message == (
        "4:32: channels[0].custom_channel_warning_en: '$${env:X}' does not match "
        "^[0-9a-zA-Z\\-_:;>+()/!?,.#@$*&À-ȕ' ]+$ beside its templates: '{' is not allowed, '}' is not allowed"
    )


def test_missing_env_is_an_error_except_in_the_secret(tmp_path: Path) -> None:
    text = "version: 1\nchannels:\n  - name: A\n    icon: ${env:ICON}\n    custom_channel_secret: ${env:SECRET}\n"
    assert problems(write(tmp_path, text), environ={}) == [
        "4:11: channels[0].icon: environment variable ICON is not set (used as ${env:ICON})"
    ]
    loaded = load_channels_file(write(tmp_path, text), environ={"ICON": "sms"})
    assert loaded.channels[0].secret == SecretRef(None, "SECRET")


def test_a_secret_value_is_never_echoed(tmp_path: Path) -> None:
    secret = "hunter2-${oops}"
    text = (
        "version: 1\nchannels:\n"
        f"  - name: A\n    custom_channel_secret: '{secret}'\n"
        "  - name: B\n    custom_channel_secret: 424242\n"
        "  - name: C\n    custom_channel_secret: ${env:S}\n    icon: no such icon\n"
    )
    with pytest.raises(ConfigError) as info:
        load_channels_file(write(tmp_path, text), environ={"S": "t0ps3cret"})
    shown = str(info.value)
    assert len(info.value.problems) == 3
    for leaked in ("hunter2", "oops", "424242", "t0ps3cret"):
        assert leaked not in shown


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = "channels:\n  - name: a_b/c\n    icon: ''\n    colour: red\n  - name: ok\n    include_signature: 'yes'\n"
    found = problems(write(tmp_path, text), environ={})
    assert [f.split(":")[0] for f in found] == ["1", "2", "3", "4", "6"]
    assert found[0] == "1:1: : missing `version`: add `version: 1` at the top of the file"


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = (
        "version: 1\ndefaults: &d {icon: sms, include_signature: true}\nchannels:\n"
        "  - <<: *d\n    name: A\n    icon: chat\n"
    )
    # The merged mapping is fine; only the unknown top-level key is reported.
    assert [p.split(": ")[1] for p in problems(write(tmp_path, text))] == ["defaults"]


def test_merged_values_are_used(tmp_path: Path) -> None:
    text = (
        "version: 1\nchannels:\n  - &base {name: A, icon: sms, include_signature: true}\n  - <<: *base\n    name: B\n"
    )
    loaded = load_channels_file(write(tmp_path, text), environ={})
    assert [(c.name, c.fields["icon"], c.fields["include_signature"]) for c in loaded.channels] == [
        ("A", "sms", True),
        ("B", "sms", True),
    ]


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "version: 1\nchannels: &a [*a]\n")) == [
        "2:11: : an alias refers to itself (a recursive anchor)"
    ]


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    assert problems(str(path)) == ["None:None: : the file is 5.0 MiB; a channels file may be at most 5 MiB"]


def test_not_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nchannels:\n  - name: Caf\xe9\n".encode("latin-1"))
    assert problems(str(path)) == ["3:None: : not UTF-8 text (byte 34): save the file as UTF-8"]
    assert problems(str(tmp_path / "nope.yaml")) == ["None:None: : no such file"]


def test_unsupported_tags_are_refused(tmp_path: Path) -> None:
    text = "version: 1\nchannels:\n  - name: !!python/object:os.system echo\n"
    (message,) = problems(write(tmp_path, text))
    assert message == "3:11: channels[0].name: unsupported YAML tag !!python/object:os.system: remove it"


def test_load_tenants_ignores_channel_problems(tmp_path: Path) -> None:
    text = TENANTS + "  - name: bad_name/\n"
    tenants = load_tenants(write(tmp_path, text))
    assert tenants["staging"].api_key_env == "STAGING_KEY"
    assert tenants["production"] == Tenant("production", "https://acme.omnidesk.com", None, {"host": "acme.com"})
    with pytest.raises(ConfigError, match=r"tenants\.staging\.url"):
        load_tenants(write(tmp_path, text.replace("https://acme-staging", "acme-staging")))


def test_the_secret_ref_hides_its_value() -> None:
    assert "s3cr3t" not in repr(SecretRef("s3cr3t", "X"))


# --- the command line, as a user runs it ------------------------------------------------------


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_validate_prints_one_line_and_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLE.parent)
    assert run_cli(["validate", "channels.yaml"], capsys) == (
        0,
        "channels.yaml: valid (2 channels; tenants: staging, production)\n",
        "",
    )
    assert run_cli(["validate", "channels.yaml", "--tenant", "staging"], capsys) == (
        0,
        "channels.yaml: valid for tenant staging (1 channel)\n",
        "",
    )


def test_validate_reports_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "version: 1\nchannels:\n  - name: A\n    custom_channel_endpoint: https://x.com/a_b\n", "bad.yaml")
    assert run_cli(["validate", "bad.yaml"], capsys) == (
        1,
        "",
        "Error: 1 problem in the channels file:\n"
        "  bad.yaml:4:30: channels[0].custom_channel_endpoint: 'https://x.com/a_b' does not match "
        "^[a-zA-Z0-9.:/\\-?&=]+$: '_' is not allowed\n",
    )


def test_validate_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["validate", "--help"], capsys)
    assert code == 0 and "Example:\n    omnidesk-channels validate channels.yaml\n" in out


def test_the_installed_command(tmp_path: Path) -> None:
    write(tmp_path, "version: 1\nchannels: [{name: 0o17}]\n", "c.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "c.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "Error: 1 problem in the channels file:\n"
        "  c.yaml:2:19: channels[0].name: expected a string, but YAML reads 0o17 as a number (15): quote it: '0o17'\n"
    )


def test_a_long_file_without_aliases_is_not_mistaken_for_an_alias_bomb(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(
        "version: 1\nchannels:\n"
        + "".join(
            f"  - name: Channel {i}\n    icon: sms\n    custom_channel_endpoint: https://b.example.com/{i}\n"
            "    include_signature: true\n"
            for i in range(12_000)
        )
    )
    assert len(load_channels_file(path).channels) == 12_000
