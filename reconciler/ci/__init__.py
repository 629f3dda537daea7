"""What the CI integrations share: comment markers, a small REST client, artifacts, the job's environment.

``reconciler.ci.flow`` is the one plan/drift/apply flow; ``reconciler.ci.forge`` the protocol a
forge implements for it: ``reconciler.ci.github`` (GitHub Actions, used by this repository's
``action.yml``) and ``reconciler.ci.gitlab`` (the GitLab CI template). The CLI exposes them as
``omnidesk-channels ci github|gitlab ...``.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reconciler.errors import CiError
from reconciler.markdown import MARKDOWN_LIMIT, tenant_markdown
from reconciler.multitenant import TENANT_FIELD, TenantPlan
from reconciler.render import render_plan as render_format
from reconciler.shard import Shard
from reconciler.target import DEFAULT_KEY_ENV
from reconciler.wording import named
from reconciler.workflow import Workflow

Log = Callable[[str], None]

PLAN_MARKER = "<!-- omnidesk-channels-plan:{tenant} -->"
DRIFT_MARKER = "<!-- omnidesk-channels-drift:{tenant} -->"
APPLY_MARKER = "<!-- omnidesk-channels-apply:{tenant} -->"
# The file name of a tenant's saved plan inside the plan folder (an artifact holds the folder).
PLAN_FILE = f"{TENANT_FIELD}.json"
API_TIMEOUT = 30.0
MAX_REDIRECTS = 5
# The action's api-key input: one tenant's key, whatever variable the file names for it.
API_KEY_VARIABLE = "OMNIDESK_CI_API_KEY"


def plan_marker(tenant: str) -> str:
    return PLAN_MARKER.format(tenant=tenant)


def drift_marker(tenant: str) -> str:
    return DRIFT_MARKER.format(tenant=tenant)


def apply_marker(tenant: str) -> str:
    return APPLY_MARKER.format(tenant=tenant)


def plan_comment(result: TenantPlan) -> str:
    """A pull-request comment (or note) for one tenant; starts with the marker it is found again by."""
    head = f"{plan_marker(result.name)}\n### Omnidesk channels: {result.name}\n\n"
    return head + tenant_markdown(result, limit=MARKDOWN_LIMIT - len(head))


def drift_body(result: TenantPlan, file: str) -> str:
    return (
        f"{drift_marker(result.name)}\n"
        f"The tenant `{result.name}` no longer matches `{file}`: someone changed channels outside the "
        f"pipeline (in the admin UI, or by hand). Either change `{file}` in a pull request to keep what "
        "the tenant has now, or apply the file to undo it. This issue is updated while the drift lasts "
        "and closed by the drift check once the tenant matches again.\n\n" + tenant_markdown(result)
    )


def render_plan(result: TenantPlan, fmt: str) -> str:
    """A tenant's plan for the job log, in the format asked for."""
    if result.plan is None:
        return f"{result.name}: the plan failed:\n{result.error}\n"
    return render_format(result.plan, fmt)


def chosen_tenants(file: str, tenant: str | None, all_tenants: bool, shard: Shard | None = None) -> list[str | None]:
    """The tenants a CI command works on: one (None: the OMNIDESK_URL target), or all of the file's
    (with ``shard``, that shard's: one job of a CI matrix)."""
    if all_tenants and tenant:
        raise CiError("choose one: a tenant, or all tenants")
    if shard and not all_tenants:
        raise CiError(
            f"{named('shard')} splits all tenants among the jobs of a matrix: add "
            f"{named('all_tenants')} (the action's all-tenants: true)"
        )
    if not all_tenants:
        return [tenant]
    return list(Workflow().tenant_names(file, shard=shard))  # a shard's job reads only its tenants' files


def plan_template(folder: str | os.PathLike[str]) -> str:
    """The saved-plan path template that puts each tenant's plan into ``folder``."""
    return os.path.join(os.fspath(folder), PLAN_FILE)


def make_folder(folder: str | os.PathLike[str]) -> None:
    """The folder plans are saved into (an artifact's contents), made if missing."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise CiError(f"cannot create the plan folder {os.fspath(folder)}: {exc.strerror}") from None


def saved_plans(path: str | os.PathLike[str]) -> list[Path]:
    """The saved plans at ``path``: the file itself, or every ``*.json`` in the folder."""
    where = Path(path)
    if where.is_dir():
        found = sorted(where.glob("*.json"))
        if not found:
            raise CiError(f"{where} holds no saved plan (*.json): was the plan job's artifact downloaded here?")
        return found
    if not where.is_file():
        raise CiError(
            f"{where}: no such saved plan (a file from '{named('save_plan_short', 'Workflow.save')}', "
            "or a folder of them)"
        )
    return [where]


def extract_zip(content: bytes, folder: str | os.PathLike[str], what: str) -> list[Path]:
    """Unpack an artifact archive into ``folder``; refuses members that would land outside it."""
    target = Path(folder).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise CiError(f"{what} is not a zip archive: {exc}") from None
    written: list[Path] = []
    with archive:
        for member in archive.infolist():
            dest = (target / member.filename).resolve()
            if not dest.is_relative_to(target):
                raise CiError(f"{what} holds {member.filename!r}, outside the folder it unpacks to; refused")
            if member.is_dir():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(archive.read(member))
            written.append(dest)
    return written


@dataclass
class RestApi:
    """A JSON REST API (GitHub's or GitLab's) with a token; errors name the call, never the token."""

    base_url: str
    headers: Mapping[str, str]
    name: str

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url.rstrip("/") + "/", headers=dict(self.headers), timeout=API_TIMEOUT
        )
        self._origin = httpx.URL(self.base_url).copy_with(path="/", query=None, fragment=None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        what = f"{method} /{httpx.URL(path).path.lstrip('/')}"
        try:
            response = self._http.request(
                method, path.lstrip("/"), params=params, json=json, data=data, headers=headers
            )
            for _ in range(MAX_REDIRECTS):
                if not response.is_redirect:
                    break
                response = self._redirected(response, headers)
        except httpx.HTTPError as exc:
            raise CiError(f"{self.name} API: {what}: {type(exc).__name__}: {exc}", call=what) from None
        if response.status_code >= 400:
            raise CiError(
                f"{self.name} API: {what}: HTTP {response.status_code}: {_reason(response)}",
                call=what,
                status=response.status_code,
            )
        return response

    def _redirected(self, response: httpx.Response, headers: Mapping[str, str] | None) -> httpx.Response:
        """Follow a download's redirect; the token goes only to the API's own origin (blob stores get none)."""
        location = response.next_request.url if response.next_request else None
        if location is None:
            return response
        if self._same_origin(location):
            return self._http.get(location, headers=headers)
        with httpx.Client(timeout=API_TIMEOUT) as bare:
            return bare.get(location)

    def _same_origin(self, url: httpx.URL) -> bool:
        return (url.scheme, url.host, url.port) == (self._origin.scheme, self._origin.host, self._origin.port)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        try:
            return response.json() if response.content else None
        except ValueError:
            call = f"{method} {path}"
            raise CiError(f"{self.name} API: {call}: the answer is not JSON", call=call) from None

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 50) -> Iterator[Any]:
        """Every item of a list endpoint, following ``Link: <...>; rel="next"`` (both APIs send it)."""
        response = self.call("GET", path, params={"per_page": 100, **(params or {})})
        for _ in range(limit):
            items = response.json()
            if not isinstance(items, list):
                raise CiError(f"{self.name} API: GET {path}: expected a list", call=f"GET {path}")
            yield from items
            following = response.links.get("next", {}).get("url")
            if not following:
                return
            if not self._same_origin(httpx.URL(following)):
                raise CiError(
                    f"{self.name} API: GET {path}: the next page is on another host; refused", call=f"GET {path}"
                )
            response = self.call("GET", following)
        raise CiError(f"{self.name} API: GET {path}: more than {limit} pages; refusing to read on", call=f"GET {path}")


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or response.reason_phrase)
    return response.reason_phrase or "error"


def with_api_key(environ: Mapping[str, str], file: str, tenants: Sequence[str | None]) -> dict[str, str]:
    """The environment with ``OMNIDESK_CI_API_KEY`` (the action's api-key) under the tenant's key variable.

    A workflow cannot name an environment variable after data (the file's ``api_key_env``), so
    the action takes one tenant's key as an input and puts it where that tenant looks for it.
    """
    env = {k: v for k, v in environ.items() if k != API_KEY_VARIABLE}
    key = environ.get(API_KEY_VARIABLE)
    if not key:
        return env
    if len(tenants) != 1:
        raise CiError(
            "api-key is one tenant's key: use it with one tenant, or set each tenant's key variable "
            "(env: in the workflow) for all tenants",
            variables=(API_KEY_VARIABLE,),
        )
    tenant = tenants[0]
    variable = (Workflow(environ=environ).tenants(file)[tenant].api_key_env if tenant else None) or DEFAULT_KEY_ENV
    env[variable] = key
    return env


def need(environ: Mapping[str, str], names: Sequence[str], where: str) -> dict[str, str]:
    """The named variables, or one error naming every missing one (empty counts as missing)."""
    missing = tuple(n for n in names if not environ.get(n))
    if missing:
        raise CiError(
            f"not running in {where}, or the job lacks what it needs: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set",
            variables=missing,
        )
    return {n: environ[n] for n in names}
