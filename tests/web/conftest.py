"""A real USA node (``trilat init`` / ``user add`` / ``serve`` as subprocesses) holding the
scenario of ``scenario.py``, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tests.web.scenario import post, scenario
from trilat.api.web import LEAFLET_DIR
from trilat.cli.node import register

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TRILAT = Path(sys.executable).parent / "trilat"
START_TIMEOUT = 30.0  # seconds for a node to print its URL and answer /health


_CLI = typer.Typer(pretty_exceptions_enable=False)
register(_CLI)  # the node commands exactly as `trilat` wires them


def _run(*args: str) -> str:
    """One ``trilat`` node command, in-process (the server below is a real child process)."""
    result = CliRunner().invoke(_CLI, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@dataclass
class RunningNode:
    """A node directory and its ``trilat serve`` process on 127.0.0.1."""

    directory: Path
    tokens: dict[str, str]
    port: int = 0
    process: subprocess.Popen[str] | None = None
    posted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Run ``trilat serve`` (on the port it had, or a free one) until it answers."""
        log = (self.directory / "serve.log").open("a")
        process = subprocess.Popen(
            [str(TRILAT), "serve", str(self.directory), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        self.process = process
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=START_TIMEOUT):
                self.stop()
                pytest.fail("trilat serve printed no URL")
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.port = int(line.rsplit(":", 1)[1])
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while True:
                try:
                    if client.get("/api/v1/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    self.stop()
                    pytest.fail("trilat serve did not answer /api/v1/health")
                time.sleep(0.05)  # polling a starting server's socket: there is no event

    def kill(self) -> None:
        """``kill -9`` the server: every open stream drops at once."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def post(self, item: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            document = post(client, self.tokens["admin"], item)
        self.posted.append(document)
        return document

    def visible_to(self, name: str) -> list[dict[str, Any]]:
        """Every item the API returns to *name* (the oracle the page must match)."""
        items: list[dict[str, Any]] = []
        after = ""
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            for _ in range(100):
                params = {"limit": "200", **({"after": after} if after else {})}
                page = client.get("/api/v1/items", params=params, headers=self.auth(name))
                assert page.status_code == 200, page.text
                body = page.json()
                items.extend(body["items"])
                if body["next"] == after:
                    break
                after = body["next"]
        return items


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A USA node with a national duty officer and a Korean liaison officer, serving the
    scenario."""
    directory = tmp_path_factory.mktemp("web") / "usa"
    _run("init", str(directory), "--nation", "USA", "--listen", "127.0.0.1:0")
    tokens = {"admin": (directory / "admin.token").read_text().strip()}
    people = {
        "duty": ("USA", "TOP SECRET", "operator"),
        "minho": ("KOR", "SECRET", "liaison"),
    }
    for name, (nationality, clearance, role) in people.items():
        out = _run(
            "user", "add", str(directory), "--name", name, "--nationality", nationality,
            "--clearance", clearance, "--role", role, "--json",
        )  # fmt: skip
        tokens[name] = json.loads(out)["token"]
    running = RunningNode(directory, tokens)
    running.start()
    try:
        for item in scenario(datetime.now(UTC)):
            running.post(item)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if not (LEAFLET_DIR / "leaflet.js").is_file():
        pytest.skip("the page's map library is not installed (make web)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Session:
    """One browser tab on the node, with what it logged and every URL it requested."""

    page: Any
    node: RunningNode
    problems: list[str]
    requests: list[Any]

    def sign_in(self, name: str) -> None:
        self.page.goto(self.node.url + "/")
        self.page.fill("#token", self.node.tokens[name])
        self.page.click("#sign-in button[type=submit]")
        self.page.wait_for_selector("#filters:not([hidden])")

    def shown_ids(self) -> set[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#items .item-row", "rows => rows.map(r => r.dataset.item)"
        )
        return set(ids)

    def wait_live(self, timeout: float = 30_000) -> None:
        """Wait until the page follows the node's event stream."""
        self.page.wait_for_function(
            "() => document.getElementById('link-state').textContent === 'Live'",
            timeout=timeout,
        )

    def wait_for_items(self, ids: set[str], timeout: float = 30_000) -> None:
        """Wait until the side list shows every item in *ids*."""
        self.page.wait_for_function(
            """ids => { const shown = new Set([...document.querySelectorAll('#items .item-row')]
                          .map(r => r.dataset.item));
                        return ids.every(id => shown.has(id)); }""",
            arg=sorted(ids),
            timeout=timeout,
        )


@pytest.fixture
def session(browser: Any, node: RunningNode) -> Iterator[Session]:
    """A fresh browser context (its own sessionStorage) on the node's page."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    requests: list[Any] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    page.on("request", lambda request: requests.append(request))
    try:
        yield Session(page, node, problems, requests)
    finally:
        context.close()
