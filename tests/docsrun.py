"""Run the shell blocks of a docs page, as a reader would, and check them against what the page shows.

The conventions (docs/development.md explains them to writers):

- A fenced block tagged ``sh``, ``bash``, ``shell`` or ``console`` is run, in page order, by bash in
  one fresh folder per page (holding a copy of ``examples/``), with ``set -eo pipefail``; exports
  and the working folder carry over to the next block. It must exit 0 unless an HTML comment right
  before it says otherwise: ``<!-- docs: exit=1 -->``.
- ``<!-- docs: skip=REASON -->`` marks a block that cannot run here (a real tenant, a CI runner):
  it is counted and listed with its reason, never run.
- ``<!-- docs: background port=8081 -->`` starts a long-running block (an emulator) in the
  background and waits until the port takes connections; it is stopped when the page ends. The
  port is replaced by a free one in every block of the page, so pages can run side by side.
- ``$DOCS_PAGE`` is the page's own path, so a block can run the page's ``python`` block as written.
- A ``text`` block right after a shell block is its output: each of its lines (``...`` aside) must
  appear in what the block printed (stdout and stderr, as a terminal shows them), in that order;
  `` ... `` inside a line stands for anything (an id, a port, a time).
- The paragraph that introduces a block, if it speaks of an exit ("exits with code 1", "exit code 2",
  "exits 0"), must say the code the block is checked for: a page cannot promise one code and be
  tested for another.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELLS = ("sh", "bash", "shell", "console")
FENCE = re.compile(
    r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", re.M | re.S
)
DIRECTIVE = re.compile(r"<!--\s*docs:\s*(?P<what>[^>]*?)\s*-->")
SPOKEN_EXIT = re.compile(r"\bexit(?:s|ed|ing)?(?: with)?(?: (?:code|status))? (\d+)\b", re.I)
BLOCK_TIMEOUT = 90


@dataclass
class Block:
    line: int
    lang: str
    code: str
    exit: int = 0
    skip: str | None = None
    background_port: int | None = None
    output: list[str] = field(default_factory=list)
    prose_exits: list[int] = field(default_factory=list)


@dataclass
class PageReport:
    page: str
    ran: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def parse(markdown: str) -> list[Block]:
    """The shell blocks of a page, each with what the page says about it."""
    blocks: list[Block] = []
    last_end = 0
    fences = list(FENCE.finditer(markdown))
    for i, fence in enumerate(fences):
        lang = fence.group("lang").lower()
        before = markdown[last_end : fence.start()]
        last_end = fence.end()
        if lang == "text" and blocks and i > 0 and fences[i - 1].group("lang").lower() in SHELLS and not before.strip():
            blocks[-1].output = [
                ln.strip() for ln in fence.group("body").splitlines() if ln.strip() and ln.strip() != "..."
            ]
            continue
        if lang not in SHELLS:
            continue
        block = Block(
            line=markdown.count("\n", 0, fence.start()) + 1,
            lang=lang,
            code=_dedent(fence.group("body"), len(fence.group("indent"))),
        )
        _apply_directives(block, before)
        prose = re.sub(r"<!--.*?-->", "", before, flags=re.S).strip().rsplit("\n\n", 1)[-1]
        block.prose_exits = [int(n) for n in SPOKEN_EXIT.findall(prose)]
        blocks.append(block)
    return blocks


def _dedent(body: str, indent: int) -> str:
    return "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in body.splitlines()) + "\n"


def _apply_directives(block: Block, before: str) -> None:
    # only the directives right before the fence (after the last line of prose) belong to it
    tail = before.rstrip().rsplit("\n\n", 1)[-1]
    for directive in DIRECTIVE.finditer(tail):
        what = directive.group("what")
        if what.startswith("skip="):
            block.skip = what[len("skip=") :].strip()
        elif m := re.fullmatch(r"exit=(\d+)", what):
            block.exit = int(m.group(1))
        elif m := re.fullmatch(r"background port=(\d+)", what):
            block.background_port = int(m.group(1))
        else:
            raise ValueError(f"line {block.line}: unknown docs directive {what!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page_env(home: Path) -> dict[str, str]:
    """A reader's shell: this project's command on PATH, no OMNIDESK_* of ours, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIDESK_") and not k.endswith("_SECRET")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        NO_COLOR="1",
        COLUMNS="100",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_page(path: Path) -> PageReport:
    """Run every runnable shell block of ``path`` in a fresh folder; the report lists every failure."""
    report = PageReport(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
    blocks = parse(path.read_text(encoding="utf-8"))
    ports = {b.background_port: free_port() for b in blocks if b.background_port}
    background: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="docs-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(ROOT / "examples", work / "examples")
        state = Path(tmp) / "state.sh"
        state.write_text(f"cd {work}\n")
        env = {**page_env(Path(tmp)), "DOCS_PAGE": str(path.resolve())}
        try:
            for block in blocks:
                for old, new in ports.items():
                    block.code = re.sub(rf"\b{old}\b", str(new), block.code)
                    block.output = [re.sub(rf"\b{old}\b", str(new), ln) for ln in block.output]
                where = f"{report.page}:{block.line}"
                for spoken in block.prose_exits:
                    if spoken != block.exit:
                        report.failures.append(
                            f"{where}: the text says exit {spoken}, the block is checked for exit {block.exit}"
                        )
                if block.skip is not None:
                    if not block.skip:
                        report.failures.append(f"{where}: skip needs a reason")
                    report.skipped.append((block.line, block.skip))
                    continue
                report.ran += 1
                if block.background_port:
                    background.append(_start(block, state, env))
                    _wait_for(ports[block.background_port], background[-1], where, report)
                    continue
                _run(block, state, env, where, report)
        finally:
            for proc in background:
                _stop(proc)
    return report


def _script(block: Block, state: Path) -> str:
    return (
        f'. "{state}"\n'
        f'trap \'export -p > "{state}.env"; echo "cd $(printf %q "$PWD")" >> "{state}.env"; '
        f'mv "{state}.env" "{state}"\' EXIT\n'
        f"set -eo pipefail\n{block.code}"
    )


def _run(block: Block, state: Path, env: dict[str, str], where: str, report: PageReport) -> None:
    try:
        done = subprocess.run(
            ["bash", "-c", _script(block, state)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        report.failures.append(f"{where}: did not finish within {BLOCK_TIMEOUT} s")
        return
    output = done.stdout
    if done.returncode != block.exit:
        report.failures.append(
            f"{where}: exit {done.returncode}, the page expects {block.exit}\n"
            f"--- block\n{block.code}--- output\n{output}"
        )
        return
    lines, at = output.splitlines(), 0
    for expected in block.output:
        found = next((i for i in range(at, len(lines)) if _shows(lines[i], expected)), None)
        if found is None:
            report.failures.append(
                f"{where}: the page shows {expected!r}, the output has no such line (in order)\n--- output\n{output}"
            )
            return
        at = found + 1


def _shows(line: str, expected: str) -> bool:
    """``expected`` is in ``line``; its " ... " parts stand for anything (ids, ports, timings)."""
    at = 0
    for part in expected.split(" ... "):
        at = line.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def _start(block: Block, state: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    script = f'. "{state}"\nexec {block.code.strip()}\n'
    return subprocess.Popen(
        ["bash", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def _wait_for(port: int, proc: subprocess.Popen[bytes], where: str, report: PageReport) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            report.failures.append(f"{where}: the background command ended (exit {proc.returncode}): {err}")
            return
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    report.failures.append(f"{where}: nothing listened on port {port} within 20 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stderr:
        proc.stderr.close()


def runnable_pages() -> list[Path]:
    """The pages whose shell blocks must run: the tutorial and the how-to guides."""
    return sorted((ROOT / "docs" / "tutorial").glob("*.md")) + sorted((ROOT / "docs" / "how-to").glob("*.md"))
