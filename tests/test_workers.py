"""`qa serve` with several worker processes: real processes on a real port, each
request on a connection of its own (the kernel hands each connection to one worker)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.serving import qa_process, served_process

QUESTION = "How many Russian troops are in Belarus?"
KEY = "workers-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def wait_for(what: Callable[[], bool], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def workers_up(url: str, count: int) -> Callable[[], bool]:
    return lambda: httpx.get(f"{url}/health").json().get("workers") == count


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def extra_workers(pid: int) -> list[int]:
    """The worker processes `qa serve` (``pid``) started, not multiprocessing's helper."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():  # each thread's own children
        try:
            children += (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that just ended
            continue
    return [
        int(c)
        for c in children
        if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes() and alive(int(c))
    ]


def asked_by(log: Path) -> set[int]:
    """The process ids that logged an answered /ask."""
    found = re.findall(r"qa\.api\[(\d+)\]: .*\"path\": \"/ask\".*\"status\": 200", log.read_text())
    return {int(pid) for pid in found}


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition text (labels in any order)."""
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in the metrics")


def test_two_workers_share_the_questions_and_add_up_their_metrics(
    seed_index_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with served_process(seed_index_dir, log, QA_WORKERS="2") as (url, process):
        wait_for(workers_up(url, 2))
        [extra] = extra_workers(process.pid)
        for _ in range(24):
            answer = httpx.get(f"{url}/ask", params={"q": QUESTION, "k": 3})
            assert answer.status_code == 200
            assert "30,000 troops" in answer.json()["answers"][0]["quote"]
        scraped = httpx.get(f"{url}/metrics").text
        assert metric(scraped, "qa_questions_total") == 24
        assert metric(scraped, "qa_requests_total", route="/ask", status="200") == 24
        assert metric(scraped, "qa_index_articles") == 5
    # 24 connections, each to either worker: both answered (all on one: p = 2**-23).
    assert asked_by(log) == {process.pid, extra}


def test_what_one_worker_writes_every_worker_reads_at_once(seed_copy: Path) -> None:
    story = {
        "id": "harbour-crane",
        "title": "Harbour news",
        "outlet": "Workers Wire",
        "text": "The Velmira harbour crane collapsed on Tuesday, the port authority said. "
        "Nobody was hurt, and the harbour reopened by evening.",
    }
    with served_process(seed_copy, QA_WORKERS="2", QA_API_KEY=KEY) as (url, _):
        wait_for(workers_up(url, 2))
        added = httpx.post(f"{url}/articles", json=story, headers=AUTH)
        assert added.status_code == 201, added.text
        version = added.headers["X-Index-Version"]
        for _ in range(12):  # fresh connections, so both workers are asked
            listed = httpx.get(f"{url}/articles").json()
            assert "harbour-crane" in {a["article_id"] for a in listed}
            answer = httpx.get(f"{url}/ask", params={"q": "When did the Velmira crane collapse?"})
            assert answer.headers["X-Index-Version"] == version
            assert answer.json()["answers"][0]["source"]["article_id"] == "harbour-crane"
        assert httpx.delete(f"{url}/articles/harbour-crane", headers=AUTH).status_code == 200
        for _ in range(12):
            listed = httpx.get(f"{url}/articles").json()
            assert "harbour-crane" not in {a["article_id"] for a in listed}
            assert httpx.get(f"{url}/articles/harbour-crane").status_code == 404


def test_the_rate_limit_counts_every_workers_questions(seed_index_dir: Path) -> None:
    with served_process(
        seed_index_dir, QA_WORKERS="2", QA_RATE_LIMIT="5", QA_RATE_WINDOW="600"
    ) as (url, _):
        wait_for(workers_up(url, 2))
        statuses = [httpx.get(f"{url}/ask", params={"q": QUESTION}).status_code for _ in range(12)]
        limited = httpx.get(f"{url}/ask", params={"q": QUESTION})
    assert statuses == [200] * 5 + [429] * 7
    assert int(limited.headers["Retry-After"]) > 500


def test_a_killed_worker_is_started_again_and_stopping_stops_every_worker(
    seed_index_dir: Path,
) -> None:
    with served_process(seed_index_dir, QA_WORKERS="2") as (url, process):
        wait_for(workers_up(url, 2))
        [first] = extra_workers(process.pid)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not alive(first))
        for _ in range(6):  # the first worker answers meanwhile
            assert httpx.get(f"{url}/ask", params={"q": QUESTION}).status_code == 200
        wait_for(lambda: len(extra_workers(process.pid)) == 1)
        [second] = extra_workers(process.pid)
        wait_for(workers_up(url, 2))
        assert second != first
    wait_for(lambda: not alive(second), seconds=30)


def test_workers_left_by_a_killed_server_stop_and_a_busy_port_is_refused(
    seed_index_dir: Path, tmp_path: Path
) -> None:
    """And the folder the killed server's workers shared is removed by the next server."""
    with served_process(seed_index_dir, QA_WORKERS="2", TMPDIR=str(tmp_path)) as (
        url,
        process,
    ):
        wait_for(workers_up(url, 2))
        [extra] = extra_workers(process.pid)
        port = url.rsplit(":", 1)[1]
        # SO_REUSEPORT would let a second server share the port: it is refused instead.
        again = qa_process(
            "serve", "--port", port, "--index-dir", str(seed_index_dir), env={"QA_WORKERS": "2"}
        )
        assert again.returncode == 1
        assert f"port {port} on 127.0.0.1 is already in use" in again.stderr
        process.kill()
        process.wait()
        wait_for(lambda: not alive(extra), seconds=30)
    [left] = tmp_path.glob(f"qa-serve-{process.pid}-*")
    assert (left / f"ready-{extra}").exists()  # SIGKILL: nothing removed it
    with served_process(seed_index_dir, QA_WORKERS="2", TMPDIR=str(tmp_path)) as (url, next_):
        wait_for(workers_up(url, 2))
        assert not left.exists()
        assert len(list(tmp_path.glob(f"qa-serve-{next_.pid}-*"))) == 1
    assert not list(tmp_path.glob("qa-serve-*"))  # stopped: its own folder removed too
