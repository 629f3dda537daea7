"""The GitLab side of gitlab-ci.yml: one plan note per merge request, and the reviewed plan on merge.

    python plan_note.py comment plan.md   create or update the merge request's plan note
    python plan_note.py fetch plan.json   download plan.json from the merged request's last plan job

Standard library only, so it runs in the job's plain Python image. Uses GITLAB_API_TOKEN and the
predefined CI_* variables.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from typing import Any

MARKER = f"<!-- omnidesk-channels-plan:{os.environ.get('TENANT', 'default')} -->"


def api(method: str, path: str, data: dict[str, str] | None = None, raw: bool = False) -> Any:
    url = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}{path}"
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"PRIVATE-TOKEN": os.environ["GITLAB_API_TOKEN"]})
    with urllib.request.urlopen(request, timeout=60) as response:
        content = response.read()
    return content if raw else json.loads(content)


def comment(markdown_path: str) -> None:
    iid = os.environ["CI_MERGE_REQUEST_IID"]
    with open(markdown_path, encoding="utf-8") as fh:
        body = f"{MARKER}\n### Omnidesk channels: {os.environ.get('TENANT', '')}\n\n" + fh.read()
    notes = api("GET", f"/merge_requests/{iid}/notes?per_page=100&sort=asc")
    mine = next((n for n in notes if n["body"].startswith(MARKER)), None)
    if mine:
        api("PUT", f"/merge_requests/{iid}/notes/{mine['id']}", {"body": body})
    else:
        api("POST", f"/merge_requests/{iid}/notes", {"body": body})


def fetch(plan_path: str) -> None:
    merged = api("GET", f"/repository/commits/{os.environ['CI_COMMIT_SHA']}/merge_requests")
    if not merged:
        sys.exit(f"no merge request for {os.environ['CI_COMMIT_SHA']}: nothing reviewed to apply")
    request = merged[0]
    head = request["sha"]
    # The reviewed plan was made from the request's head: refuse if main's file differs from it.
    subprocess.run(["git", "fetch", "--quiet", "origin", head], check=True)
    if subprocess.run(["git", "diff", "--quiet", head, "HEAD", "--", "channels.yaml"]).returncode != 0:
        sys.exit("channels.yaml on main differs from the reviewed merge request head; plan again")
    pipelines = api("GET", f"/merge_requests/{request['iid']}/pipelines")
    pipeline = next((p for p in pipelines if p["sha"] == head and p["status"] == "success"), None)
    if pipeline is None:
        sys.exit(f"no successful merge request pipeline for {head}: nothing reviewed to apply")
    jobs = api("GET", f"/pipelines/{pipeline['id']}/jobs?scope[]=success")
    job = next((j for j in jobs if j["name"] == "plan"), None)
    if job is None:
        sys.exit(f"pipeline {pipeline['id']} has no successful plan job")
    content = api("GET", f"/jobs/{job['id']}/artifacts/plan.json", raw=True)
    with open(plan_path, "wb") as fh:
        fh.write(content)
    print(f"Fetched the plan of merge request !{request['iid']} (job {job['id']}) to {plan_path}")


if __name__ == "__main__":
    command, path = sys.argv[1:3]
    {"comment": comment, "fetch": fetch}[command](path)
