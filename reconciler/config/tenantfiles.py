"""Tenants from files: ``tenants:`` naming a folder or a glob of tenant files instead of a mapping.

An agency with hundreds of tenants keeps one small file per tenant (``tenants/acme.yaml``)::

    tenants: tenants/                 # every *.yaml and *.yml file in that folder
    tenants: "tenants/**/*.yaml"      # a glob (** crosses folders)
    tenants: [tenants/eu/, tenants/us/*.yaml, tenants/acme.yaml]

Paths are relative to the channels file's folder and must stay inside it: in CI a pull request
edits the channels file, and it must not read files of the runner (``/proc/self/environ``) into
error messages. A tenant file holds the keys of one inline tenant (``url``, ``api_key_env``,
``vars``, ``auth``, ``ignore``, ``safety``, ``policy``); the tenant's name is the file's name
without ``.yaml``/``.yml``, as octoDNS names a zone by its file: a renamed file is a renamed
tenant, and two files cannot claim one name without the error naming both.

The files are grafted into the channels file's document under ``tenants.NAME``: the schema and
every later check see one mapping as with inline tenants, and a problem inside a tenant file is
located in that file (``Document.origins``).

A shard of a CI matrix (``--shard K/N``) reads only its own tenant files: a tenant's shard follows
from its name, and its name from its file's name, so listing the folder tells which files are
the shard's without opening the others. Every check of a file (its name, a second file of the same
name, its content) is then made by the one shard its name falls into, and by an unsharded
``validate``, which reads them all.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ConfigError, Problem
from reconciler.printable import quoted
from reconciler.yamlread import Document, read_document
from reconciler.yamlshow import PathT

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class TenantSources:
    """Where ``tenants:`` took its tenants from: its value as written, and each tenant's file.

    ``export`` writes ``tenants:`` as written and each tenant's file beside the export, at the
    same path relative to it, so the export reads its tenants as the channels file does.
    """

    spec: str | tuple[str, ...]  # the folder, glob or list ``tenants:`` names
    folder: str  # the channels file's folder: the paths are relative to it
    files: dict[str, str]  # tenant name -> its file, as read

    def relative(self) -> dict[str, str]:
        """Each tenant file's path relative to the channels file's folder -> the file, as read."""
        return {os.path.relpath(f, self.folder): f for f in self.files.values()}


def sources_of(parsed: Document, spec: str | list[str]) -> TenantSources:
    """The tenant files ``graft_tenant_files`` read into ``parsed`` for ``spec``."""
    files = {str(path[1]): file for path, file in parsed.origins.items() if len(path) == 2 and path[0] == "tenants"}
    folder = os.path.dirname(os.path.abspath(parsed.file))
    return TenantSources(spec if isinstance(spec, str) else tuple(spec), folder, dict(files))


_GLOB_CHARS = frozenset("*?[")
_TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the schema's propertyNames of tenants:


def uses_tenant_files(data: Any) -> bool:
    """Whether ``tenants:`` names files (a string, or a list of strings) rather than holding tenants."""
    section = data.get("tenants") if isinstance(data, dict) else None
    return isinstance(section, str) or (isinstance(section, list) and all(isinstance(s, str) for s in section))


def graft_tenant_files(parsed: Document, keep: Callable[[str], bool] | None = None) -> list[str]:
    """Replace ``tenants: FOLDER|GLOB|[...]`` by the tenants its files hold; problems go to ``parsed``.

    ``keep``: read only the files of the tenants it keeps (a shard's, by name); the names of the
    others, whose files stay unopened and unchecked, are returned in file order.
    """
    section = parsed.data["tenants"]
    sources = [section] if isinstance(section, str) else list(section)
    if not sources:
        parsed.problems.append(
            parsed.problem(
                ("tenants",),
                "an empty list names no tenant file: name a folder or a glob (tenants/), or remove `tenants:`",
            )
        )
    base = os.path.dirname(os.path.abspath(parsed.file))
    tenants: dict[str, Any] = {}
    claimed: dict[str, str] = {}  # tenant name -> the file that defines it
    others: dict[str, None] = {}
    for index, source in enumerate(sources):
        where: PathT = ("tenants",) if isinstance(section, str) else ("tenants", index)
        for file in _files(parsed, where, source, base, keep):
            name = _stem(file)
            if keep is not None and not keep(name):  # another shard's: it checks the file
                others[name] = None
                continue
            if not _TENANT_NAME.fullmatch(name):
                parsed.problems.append(
                    Problem(
                        file,
                        None,
                        None,
                        "",
                        f"the file's name {quoted(name)} cannot be a "
                        "tenant's name (letters, digits, '.', '-' and '_', starting with a letter or "
                        "digit): rename the file",
                    )
                )
                continue
            if name in claimed:
                parsed.problems.append(
                    Problem(
                        file,
                        1,
                        1,
                        "",
                        f"tenant {quoted(name)} is defined twice: by {claimed[name]} and by this file "
                        "(a tenant's name is its file's name): rename or remove one",
                    )
                )
                continue
            claimed[name] = file
            tenants[name] = _graft(parsed, name, file)
    parsed.data["tenants"] = tenants
    return list(others)


def _files(parsed: Document, where: PathT, source: str, base: str, keep: Callable[[str], bool] | None) -> list[str]:
    """The tenant files ``source`` names, sorted (the order of --all-tenants); a problem if none.
    Where each one really is is looked up only for those ``keep`` keeps (the others' shards do)."""
    full = os.path.normpath(os.path.join(base, source))
    if os.path.isabs(source) or not (full == base or full.startswith(base + os.sep)):
        parsed.problems.append(
            parsed.problem(
                where,
                f"{quoted(source)} is outside the channels file's folder: "
                "tenant files must be in it or below it (a relative path)",
            )
        )
        return []
    if not _GLOB_CHARS & set(source):
        if os.path.isfile(full) and full.endswith(SUFFIXES):  # one tenant file, named
            found = [full]
        elif not os.path.isdir(full):
            what = "is not a folder, a glob or a .yaml file" if os.path.exists(full) else "does not exist"
            parsed.problems.append(
                parsed.problem(
                    where,
                    f"the tenants folder {quoted(source)} {what} (relative to the "
                    "channels file's folder): create it, or fix the path",
                )
            )
            return []
        else:
            with os.scandir(full) as entries:  # the kind of each entry comes with the listing
                found = [e.path for e in entries if e.name.endswith(SUFFIXES) and e.is_file()]
    else:
        found = [f for f in glob.glob(full, recursive=True) if f.endswith(SUFFIXES) and os.path.isfile(f)]
    real = _RealPaths()

    def mine(file: str) -> bool:
        return keep is None or keep(_stem(file))

    itself = os.path.realpath(parsed.file)  # tenants: ./ lists the channels file too: it is no tenant
    cwd = os.getcwd()
    files = sorted(os.path.relpath(f, cwd) for f in found if not mine(f) or real(f) != itself)
    inside = os.path.realpath(base) + os.sep
    escaped = [f for f in files if mine(f) and not real(f).startswith(inside)]  # a symbolic link out of it
    for file in escaped:
        parsed.problems.append(
            Problem(
                file,
                None,
                None,
                "",
                "the file is outside the channels file's folder (a "
                "symbolic link): tenant files must be in it or below it",
            )
        )
    files = [f for f in files if f not in escaped]
    if not files and not escaped:
        parsed.problems.append(
            parsed.problem(
                where, f"{quoted(source)} names no tenant file (*.yaml or *.yml): add one per tenant, or fix the path"
            )
        )
    return files


class _RealPaths:
    """``os.path.realpath`` of many files in few folders: one ``lstat`` per file and one
    ``realpath`` per folder, not one ``lstat`` per part of every path (1,000 tenant files took
    0.3 s, as long as reading a shard's share of them)."""

    def __init__(self) -> None:
        self.folders: dict[str, str] = {}

    def __call__(self, file: str) -> str:
        if os.path.islink(file):
            return os.path.realpath(file)
        folder, name = os.path.split(os.path.abspath(file))
        if folder not in self.folders:
            self.folders[folder] = os.path.realpath(folder)
        return os.path.join(self.folders[folder], name)


def _stem(file: str) -> str:
    name = os.path.basename(file)
    return name[: -len(next(s for s in SUFFIXES if name.endswith(s)))]


def _graft(parsed: Document, name: str, file: str) -> Any:
    """Read one tenant file and put its values and nodes under ``tenants.NAME`` of ``parsed``."""
    try:
        document, root = read_document(file)
    except ConfigError as exc:  # unreadable: reported, and the other tenant files are still checked
        parsed.problems.extend(exc.problems)
        return {}
    prefix: PathT = ("tenants", name)
    parsed.origins[prefix] = file
    parsed.problems.extend(document.problems)
    parsed.bad.update(prefix + path for path in document.bad)
    parsed.graft(prefix, document)  # a problem with the tenant's name points at its file's start
    data = document.data
    if root is None:
        parsed.problems.append(
            Problem(
                file, None, None, "", "the tenant file is empty: add `url: https://...` and the tenant's other keys"
            )
        )
    elif isinstance(data, dict) and "name" in data:
        parsed.problems.append(
            document.problem(
                ("name",),
                f"a tenant file's name is its file's name ({name}): remove `name:`, or rename the file",
                key=True,
            )
        )
        del data["name"]  # said here; the schema would call it an unknown key
    return data
