"""The real outside tools the ecosystem tests drive: node programs from ``.ci/node`` and an LSP client.

``.ci/run`` installs the node tools (``npm ci --prefix .ci/node``). Outside CI a test that needs
them is skipped when they are missing; with ``CI=true`` it fails instead, so CI cannot pass by
skipping.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_PREFIX = ROOT / ".ci" / "node"
NODE_MODULES = NODE_PREFIX / "node_modules"


def require_tool(what: str, found: bool) -> None:
    """Skip (or, under CI=true, fail) when an outside tool is missing."""
    if found:
        return
    message = f"{what} is not installed (.ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def python_tool(module: str) -> Any:
    """A dev dependency's module (``pip install -e '.[dev]'``), or skip/fail as ``require_tool`` says."""
    try:
        return importlib.import_module(module)
    except ImportError:
        require_tool(f"the Python module {module} (pip install -e '.[dev]')", False)


def node_tool(package: str) -> Path:
    """The installed npm package's folder, or skip/fail as ``require_tool`` says."""
    node = shutil.which("node")
    require_tool("node", node is not None)
    folder = NODE_MODULES / package
    require_tool(f"the npm package {package} (npm ci --prefix .ci/node)", (folder / "package.json").is_file())
    return folder


def run_node(script: str, payload: Any, timeout: float = 60) -> Any:
    """Run a node script (source text) with ``payload`` as JSON on stdin; its stdout is JSON."""
    node_tool("ajv")
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=NODE_PREFIX,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class LanguageServer:
    """yaml-language-server over stdio, spoken to in JSON-RPC with LSP's Content-Length framing."""

    def __init__(self, settings: dict[str, Any]) -> None:
        folder = node_tool("yaml-language-server")
        self.settings = settings
        self.proc = subprocess.Popen(
            ["node", str(folder / "bin" / "yaml-language-server"), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None
            self.messages.put(json.loads(stream.read(length)))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self.next_id += 1
        ident = self.next_id
        self._send({"id": ident, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == ident and "method" not in m, timeout)
        assert "error" not in reply, reply
        return reply.get("result")

    def wait(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        """The next message matching ``predicate``; answers the server's own requests meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("yaml-language-server did not answer in time")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if "method" in message and "id" in message:
                self._answer(message)
            if predicate(message):
                return message

    def _answer(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [self.settings.get(item.get("section", ""), None) for item in message["params"]["items"]]
        self._send({"id": message["id"], "result": result})

    def start(self, root: Path) -> None:
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "capabilities": {
                    "workspace": {"configuration": True},
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": True}},
                        "publishDiagnostics": {},
                    },
                },
            },
        )
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})

    def diagnostics(self, path: Path, text: str, version: int = 1) -> list[dict[str, Any]]:
        """Open (or change) the file and return the diagnostics the server publishes for it."""
        uri = path.as_uri()
        if version == 1:
            self.notify(
                "textDocument/didOpen",
                {
                    "textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text},
                },
            )
        else:
            self.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": text}],
                },
            )
        published = self.wait(
            lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
        )
        return published["params"]["diagnostics"]

    def completion(self, path: Path, line: int, character: int) -> list[dict[str, Any]]:
        result = self.request(
            "textDocument/completion",
            {
                "textDocument": {"uri": path.as_uri()},
                "position": {"line": line, "character": character},
            },
        )
        return result["items"] if isinstance(result, dict) else (result or [])

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        except Exception:  # a server that hangs on shutdown must not hang the test run
            self.proc.kill()
            self.proc.wait()
