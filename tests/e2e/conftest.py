"""Real processes for end-to-end tests: an RQ worker with its scheduler and a gunicorn web
server (TLS, because the official PagerDuty client refuses plain HTTP), both pointed at the
test database and the test Redis."""

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.conf import settings
from django.db import connection
from rq import Worker

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def database_url() -> str:
    """The test database, as a URL the child processes can use."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until `condition()` is truthy. The flows wait seconds for real processes, never
    minutes: policies in these tests use delays of a few seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def child_env(tmp_path: Path, redis_conn: Any) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "SITE_URL": "https://watchstander.test",
        "RECONCILE_GRACE_SECONDS": "10",
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def start_worker(
    transactional_db: None, child_env: dict[str, str], redis_conn: Any, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start an `rqworker` (escalation + notifications, with its scheduler) in its own
    process group, so a test can kill it together with its scheduler as a container would."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(worker_ttl: int = 30, **env: str) -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(processes)}.log"
        before = {worker.name for worker in Worker.all(connection=redis_conn)}
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "rqworker",
                "escalation",
                "notifications",
                "--with-scheduler",
                "--worker-ttl",
                str(worker_ttl),
            ],
            cwd=ROOT,
            env={**child_env, **env},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(process)

        def registered() -> bool:
            assert process.poll() is None, log_path.read_text()
            return bool({w.name for w in Worker.all(connection=redis_conn)} - before)

        wait_for(registered, START_TIMEOUT, "the RQ worker to register")
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            _stop(process)


@pytest.fixture
def worker(start_worker: Callable[..., subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    return start_worker()


@dataclass
class WebServer:
    url: str
    ssl_context: ssl.SSLContext

    def post_json(
        self, path: str, document: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(document).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, context=self.ssl_context, timeout=30) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def web(transactional_db: None, child_env: dict[str, str], tmp_path: Path) -> Iterator[WebServer]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    port = free_port()
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "3",
            "--threads",
            "10",
            "--certfile",
            str(tmp_path / "server.pem"),
            "--keyfile",
            str(tmp_path / "server.pem"),
        ],
        cwd=ROOT,
        env={**child_env, "ALLOWED_HOSTS": "127.0.0.1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError((tmp_path / "web.log").read_text())
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(answers, START_TIMEOUT, "gunicorn to listen")
    yield WebServer(url=f"https://127.0.0.1:{port}", ssl_context=context)
    _stop(process)


@pytest.fixture
def mailbox(tmp_path: Path) -> Callable[[], list[Message]]:
    """Every e-mail the worker sent, through Django's file e-mail backend."""

    def read() -> list[Message]:
        directory = tmp_path / "mail"
        if not directory.exists():
            return []
        messages = []
        for path in sorted(directory.iterdir()):
            for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if chunk.strip():
                    messages.append(message_from_bytes(chunk.lstrip()))
        return messages

    return read
