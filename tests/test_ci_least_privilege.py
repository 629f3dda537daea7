"""The shipped pipelines keep the write key and the bridge secrets out of every job a pull request runs.

A pull request's author controls channels.yaml (tenant URLs included), and the jobs that plan it
run that file. So in examples/: any job that can run for a pull request, and the drift check,
reference only read-only keys (``*_READ``); a job that references any other secret runs in a GitHub
``environment:`` and only after a merge into main. GitLab: plan and drift map only ``*_READ``
variables; the write key is the apply's (a protected variable, given to protected branches only).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WORKFLOWS = sorted((EXAMPLES / "github").glob("*.yml"))
SECRET = re.compile(r"secrets(?:\.(\w+)|\[(.*?)\])")


def secrets_of(node: Any) -> set[str]:
    """The secret names a job references; a computed name is kept as its expression."""
    found = set()
    for match in SECRET.finditer(yaml.safe_dump(node, width=10_000)):
        found.add(match.group(1) or match.group(2))
    return found - {"GITHUB_TOKEN"}


def read_only(name: str) -> bool:
    return name.endswith("_READ") or name.endswith("_READ')") or "'{0}_READ'" in name


def jobs() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        for name, job in workflow["jobs"].items():
            found.append((path.name, name, job, workflow))
    return found


@pytest.mark.parametrize("file, name, job, workflow", jobs(), ids=lambda v: v if isinstance(v, str) else "")
def test_only_merged_protected_jobs_hold_more_than_a_read_key(file: str, name: str, job: dict, workflow: dict):
    held = secrets_of(job)
    if all(read_only(s) for s in held):
        return
    condition = str(job.get("if", ""))
    assert job.get("environment"), f"{file}: job {name} holds {sorted(held)} outside a protected environment"
    # only runs of main itself: a pull_request run's ref is refs/pull/N/merge (and its workflow the request's copy)
    assert "github.ref == 'refs/heads/main'" in condition and "github.event_name != 'pull_request'" in condition, (
        f"{file}: job {name} holds write secrets outside runs of main"
    )
    assert "push" in workflow[True] and "pull_request_target" not in workflow[True]  # 'on:' reads as True


def test_the_plan_and_drift_jobs_hold_a_read_key_and_no_bridge_secret():
    plan_jobs = [(f, n, j) for f, n, j, _ in jobs() if n in ("plan", "drift", "tenants")]
    assert {f for f, _, _ in plan_jobs} >= {"channels.yml", "channels-tenants.yml", "channels-drift.yml"}
    for file, name, job in plan_jobs:
        held = secrets_of(job)
        assert all(read_only(s) for s in held), f"{file}: {name} holds {sorted(held)}"
        assert not any("BRIDGE_SECRET" in s for s in held)


@pytest.mark.parametrize("example_file", ["gitlab-ci.yml", "gitlab-ci-shards.yml"])
def test_gitlab_plan_and_drift_map_read_keys_and_apply_the_write_key(example_file: str):
    example = yaml.safe_load((EXAMPLES / "gitlab" / example_file).read_text())
    for name in ("omnidesk-plan", "omnidesk-drift"):
        keys = {k: v for k, v in example[name]["variables"].items() if k.endswith("_KEY")}
        assert keys and all(str(v).endswith("_READ") for v in keys.values()), name
    # the protected GITLAB_API_TOKEN is not there in merge request pipelines: the note has its own token
    assert example["omnidesk-plan"]["variables"]["GITLAB_API_TOKEN"] == "$OMNIDESK_NOTE_TOKEN"
    assert all(str(v).endswith("_WRITE") for v in example["omnidesk-apply"]["variables"].values())
    template = yaml.safe_load((EXAMPLES / "gitlab" / "omnidesk-channels.gitlab-ci.yml").read_text())
    assert "environment" in template["omnidesk-apply"]
    assert "SECRET" not in yaml.safe_dump({k: template[k] for k in ("omnidesk-plan", "omnidesk-drift")})


DIGEST = re.compile(r"^[\w./:-]+@sha256:[0-9a-f]{64}$")
IMAGE_VARIABLE = "$OMNIDESK_CHANNELS_IMAGE"


def images_of(node: Any) -> list[str]:
    """Every ``image:`` of a GitLab CI file (the string form and the ``name:`` of the mapping form)."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "image":
                found.append(str(value["name"] if isinstance(value, dict) else value))
            else:
                found += images_of(value)
        return found
    return [i for item in node for i in images_of(item)] if isinstance(node, list) else []


def test_every_gitlab_image_is_pinned_by_digest_with_its_tag_said():
    """The jobs that hold the write key run in an image: a tag can move, a digest cannot. Every
    image of the GitLab files carries a full sha256 digest or is the template's variable, whose
    default does, with the tag in a comment on its line (for people and for Renovate)."""
    template = (EXAMPLES / "gitlab" / "omnidesk-channels.gitlab-ci.yml").read_text()
    for path in sorted((EXAMPLES / "gitlab").glob("*.yml")):
        for image in images_of(yaml.safe_load(path.read_text())):
            assert DIGEST.match(image) or image == IMAGE_VARIABLE, f"{path.name}: image {image} is not pinned"
    default = yaml.safe_load(template)["variables"]["OMNIDESK_CHANNELS_IMAGE"]
    assert DIGEST.match(default) and default.startswith("python:3.11@sha256:")
    assert f'  OMNIDESK_CHANNELS_IMAGE: "{default}"   # python:3.11\n' in template
    assert "docker buildx imagetools inspect python:3.11" in template and "renovate.json" in template


def test_renovate_finds_the_template_image_and_proposes_its_digests_only():
    """renovate.json's custom manager (a JavaScript regex with named groups) matches the template's
    image line: the name, the tag and the digest Renovate keeps current."""
    config = json.loads((ROOT / "renovate.json").read_text())
    (manager,) = config["customManagers"]
    assert config["enabledManagers"] == ["custom.regex"] and manager["datasourceTemplate"] == "docker"
    (pattern,) = manager["managerFilePatterns"]
    assert re.search(pattern.strip("/"), "examples/gitlab/omnidesk-channels.gitlab-ci.yml")
    template = (EXAMPLES / "gitlab" / "omnidesk-channels.gitlab-ci.yml").read_text()
    (found,) = [m.groupdict() for s in manager["matchStrings"] for m in re.finditer(s.replace("(?<", "(?P<"), template)]
    default = yaml.safe_load(template)["variables"]["OMNIDESK_CHANNELS_IMAGE"]
    assert found == {"depName": "python", "currentValue": "3.11", "currentDigest": default.split("@")[1]}
    (rule,) = config["packageRules"]
    assert rule["enabled"] is False and set(rule["matchUpdateTypes"]) == {"major", "minor", "patch"}


def strings_of(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings_of(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings_of(item)]
    return [node] if isinstance(node, str) else []


def test_every_variable_the_template_uses_is_defined_predefined_or_the_users():
    """A variable the template's jobs use but nobody sets expands to nothing: the install would fetch
    ``https://raw.githubusercontent.com///requirements.lock``. Each one is the template's own, one of
    GitLab's ``CI_*``, or one the template's comments ask the user to set."""
    template = yaml.safe_load((EXAMPLES / "gitlab" / "omnidesk-channels.gitlab-ci.yml").read_text())
    defined = set(template["variables"]) | {"OMNIDESK_CI_TENANT", "OMNIDESK_DRIFT"}  # the user's
    for job in template.values():
        defined |= set(job.get("variables", {})) if isinstance(job, dict) else set()
    used = {m for text in strings_of(template) for m in re.findall(r"\$\{?([A-Za-z_]\w*)", text)}
    assert {u for u in used if not u.startswith("CI_")} - defined == set()
    assert {"OMNIDESK_CHANNELS_REPO", "OMNIDESK_CHANNELS_COMMIT"} <= used
