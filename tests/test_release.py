"""The supply chain a team points at: pinned actions, a hash-checked lock that follows pyproject.toml,
one version with one placeholder for where the tool comes from, a changelog section per release.

The wheel itself is built, installed in a clean virtualenv and run by ``.ci/wheel-smoke`` (in
``.ci/run`` and the release workflow); ``test_ci_action`` runs the action's own install step.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reconciler import __version__

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
BUILD_INPUT = ROOT / ".ci" / "lock-build.in"
PIPELINE_FILES = sorted(
    [ROOT / "action.yml", *(ROOT / "examples").rglob("*.yml"), *(ROOT / ".github" / "workflows").glob("*.yml")]
)
# The one placeholder for where users take the tool from: the repository, and the commit of the
# release tag (a 40-hex pin like every other action's), with the version in the comment.
REPO = "OWNER/omnidesk-channels"
COMMIT = "0" * 40
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # v(?P<version>\d+(\.\d+)*)(;.*)?$")


@dataclass
class Locked:
    version: str
    hashes: int
    via: set[str]


def read_lock(text: str) -> dict[str, Locked]:
    """The lock's entries: name -> version, number of hashes, what pulled it in (``# via``)."""
    entries: dict[str, Locked] = {}
    current: Locked | None = None
    in_via = False
    for line in text.splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", line):
            current = entries[canonicalize_name(match.group(1))] = Locked(match.group(2), 0, set())
            in_via = False
        elif current and "--hash=sha256:" in line:
            current.hashes += 1
        elif current and (match := re.match(r"^\s+# via ?(.*)$", line)):
            in_via = not match.group(1)
            if match.group(1):
                current.via.add(match.group(1).strip())
        elif current and in_via and (match := re.match(r"^\s+#\s+(.+)$", line)):
            current.via.add(match.group(1).strip())
    return entries


def direct_requirements(pyproject: str, build_input: str) -> list[Requirement]:
    project = tomllib.loads(pyproject)
    lines = [
        *project["project"]["dependencies"],
        *project["build-system"]["requires"],
        *(line for line in build_input.splitlines() if line.strip() and not line.startswith("#")),
    ]
    return [Requirement(line) for line in lines]


def lock_problems(pyproject: str, build_input: str, lock: str) -> list[str]:
    """Where the lock and pyproject.toml disagree; empty when the lock is what .ci/lock would keep."""
    entries = read_lock(lock)
    problems: list[str] = []
    wanted = direct_requirements(pyproject, build_input)
    for requirement in wanted:
        entry = entries.get(canonicalize_name(requirement.name))
        if entry is None:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(entry.version, prereleases=True):
            problems.append(f"{requirement}: the lock pins {entry.version}")
    direct = {canonicalize_name(r.name) for r in wanted}
    for name, entry in entries.items():
        if entry.hashes == 0:
            problems.append(f"{name} has no hash")
        pulled_by = {canonicalize_name(v.split(" ")[0]) for v in entry.via if not v.startswith(("-r", "omnidesk"))}
        marked_direct = any(v.startswith(("-r", "omnidesk-channels (pyproject.toml)")) for v in entry.via)
        if marked_direct and name not in direct:
            problems.append(f"{name} is locked as a direct dependency that pyproject.toml no longer names")
        if not marked_direct and not pulled_by & set(entries):
            problems.append(f"{name} is pulled in by nothing in the lock")
    return problems


def test_the_lock_follows_pyproject():
    problems = lock_problems((ROOT / "pyproject.toml").read_text(), BUILD_INPUT.read_text(), LOCK.read_text())
    assert problems == [], "requirements.lock is stale; run .ci/lock:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda t: t.replace('"pyyaml>=6",', '"pyyaml>=6",\n  "tenacity>=8",'), "tenacity>=8 is not in the lock"),
        (lambda t: t.replace('"click>=8.1"', '"click>=99"'), "click>=99: the lock pins"),
        (lambda t: t.replace('  "rich>=13",\n', ""), "rich is locked as a direct dependency"),
        (lambda t: t.replace('"hatchling>=1.24"', '"hatchling>=99"'), "hatchling>=99: the lock pins"),
    ],
)
def test_a_lock_that_drifted_from_pyproject_fails(edit, problem):
    pyproject = (ROOT / "pyproject.toml").read_text()
    edited = edit(pyproject)
    assert edited != pyproject
    problems = lock_problems(edited, BUILD_INPUT.read_text(), LOCK.read_text())
    assert any(p.startswith(problem) for p in problems), problems


def test_a_lock_entry_without_hashes_fails():
    lock = re.sub(r"^(pyyaml==\S+ \\\n)(    --hash=\S+( \\)?\n)+", r"pyyaml==6.0.4\n", LOCK.read_text(), flags=re.M)
    assert "pyyaml has no hash" in lock_problems((ROOT / "pyproject.toml").read_text(), BUILD_INPUT.read_text(), lock)


def uses_of(path: Path) -> list[str]:
    return re.findall(r"^\s*(?:- )?uses:\s*(.+?)\s*$", path.read_text(), re.M)


def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version():
    found = {path.relative_to(ROOT).as_posix(): uses_of(path) for path in PIPELINE_FILES}
    assert sum(map(len, found.values())) > 15
    for name, uses in found.items():
        for use in uses:
            match = SHA_PIN.match(use)
            assert match, f"{name}: {use!r} is not owner/repo@<40-hex sha> # vX.Y.Z"
            if match.group("action") == REPO:
                assert (match.group("sha"), match.group("version")) == (COMMIT, __version__), f"{name}: {use}"
            else:
                assert match.group("sha") != COMMIT, f"{name}: {use}: a real action needs its real commit"


def test_one_placeholder_and_the_current_version_everywhere_users_copy_from():
    """OWNER/omnidesk-channels with the release commit and v{version}; no other version is named."""
    texts = {
        p.relative_to(ROOT).as_posix(): p.read_text()
        for p in [
            ROOT / "README.md",
            ROOT / "examples" / "README.md",
            ROOT / "reconciler" / "cli" / "ci_cmd.py",
            ROOT / ".pre-commit-hooks.yaml",
            *sorted((ROOT / "docs").rglob("*.md")),
            *PIPELINE_FILES,
        ]
    }
    assert any(REPO in t for t in texts.values())
    for name, text in texts.items():
        for mention in re.findall(rf"{REPO}\S*", text):
            assert re.match(rf"{REPO}([@/]{COMMIT}\b|`|$|\)|\.git\b|/releases\b)", mention), f"{name}: {mention}"
        for line in text.splitlines():
            for version in re.findall(rf"{REPO}\S* # v(\d+\.\d+\.\d+)|tag `?v(\d+\.\d+\.\d+)", line):
                assert __version__ in version, f"{name} names {version}, the version is {__version__}: {line}"
        assert not re.search(r"[\w-]+/[\w-]+@v\d|rev: v\d", text), f"{name}: an action, install or hook by tag"
        for rev, version in re.findall(r"rev: (\S+)\s+# frozen: v(\S+)", text):  # pre-commit's pin by commit
            assert (rev, version) == (COMMIT, __version__), f"{name}: rev {rev} # frozen: v{version}"


def test_the_changelog_has_a_section_for_the_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## [{__version__}]" in changelog


def test_the_release_workflow_builds_smoke_tests_and_attaches_both_files():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key 'on' as True
    (job,) = workflow["jobs"].values()
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert ".ci/wheel-smoke dist" in runs and "gh release create" in runs
    assert "dist/*.tar.gz dist/*.whl" in runs and "reconciler.__version__" in runs
    assert ".ci/wheel-smoke" in (ROOT / ".ci" / "run").read_text()
    smoke = (ROOT / ".ci" / "wheel-smoke").read_text()
    for step in (
        "--require-hashes",
        "hatchling build",
        "apply quickstart.yaml --emulator --yes",
        "init fresh",
        "validate fresh/channels.yaml",
        "python3 -m venv",
    ):
        assert step in smoke
