"""Overload through real HTTP: shed questions beyond QA_MAX_PENDING (503), give every
request a deadline (QA_REQUEST_TIMEOUT, 503), limit questions per client address
(QA_RATE_LIMIT, 429), and serve normally right after."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from qa.api import create_app
from qa.config import Settings
from qa.encoders import Encoder
from tests.serving import running

TROOPS = "How many Russian troops are in Belarus?"
CLIENTS = 200
GREEDY = 40  # clients that ask more than the rate limit allows
RATE_LIMIT = 3
ASKS_GREEDY = 5


async def _client(url: str, address: str, questions: int, statuses: list[httpx.Response]) -> None:
    # uvicorn takes X-Forwarded-For from a proxy on this machine as the client address.
    # A new connection per request: what is measured is the server's answers, not the
    # keep-alive race of a client reusing a connection the server is closing.
    headers = {"X-Forwarded-For": address}
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=url, timeout=300, headers=headers, limits=fresh
    ) as client:
        for _ in range(questions):
            statuses.append(await client.post("/ask", json={"question": TROOPS, "k": 3}))


async def _crowd(url: str) -> list[httpx.Response]:
    responses: list[httpx.Response] = []
    await asyncio.gather(
        *(
            _client(
                url, f"10.0.{n // 250}.{n % 250 + 1}", ASKS_GREEDY if n < GREEDY else 1, responses
            )
            for n in range(CLIENTS)
        )
    )
    return responses


def test_200_clients_get_answers_503s_and_429s_and_service_goes_on(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder
) -> None:
    settings = seed_settings.model_copy(
        update={"max_pending": 16, "rate_limit": RATE_LIMIT, "rate_window": 600.0}
    )
    app = create_app(settings, encoder=lambda: real_encoder)
    with running(app) as url:
        responses = asyncio.run(_crowd(url))
        statuses = Counter(r.status_code for r in responses)
        assert set(statuses) <= {200, 429, 503}, statuses
        assert statuses[200] and statuses[429] and statuses[503], statuses
        assert len(responses) == GREEDY * ASKS_GREEDY + CLIENTS - GREEDY
        for response in responses:
            if response.status_code == 200:
                assert response.json()["answers"], response.json()
                assert response.headers["X-Index-Version"].startswith("v-")
                continue
            assert int(response.headers["Retry-After"]) >= 1
            detail = response.json()["detail"]
            assert "QA_RATE_LIMIT" in detail if response.status_code == 429 else detail
        # Only the greedy clients were limited, and only beyond their allowance.
        limited = Counter(
            r.request.headers["X-Forwarded-For"] for r in responses if r.status_code == 429
        )
        assert all(
            int(a.split(".")[3]) <= GREEDY and n <= ASKS_GREEDY - RATE_LIMIT
            for a, n in limited.items()
        )
        # Right after the crowd, a new client is answered and the service is healthy.
        fresh = httpx.post(
            f"{url}/ask", json={"question": TROOPS}, headers={"X-Forwarded-For": "10.9.9.9"}
        )
        assert fresh.status_code == 200 and fresh.json()["answers"]
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert app.state.service.pending == 0


def test_a_question_past_its_deadline_is_503_with_what_to_do(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder
) -> None:
    # A batch window longer than the deadline: the lone question cannot make it.
    settings = seed_settings.model_copy(update={"request_timeout": 0.2, "batch_window_ms": 800})
    app = create_app(settings, encoder=lambda: real_encoder)
    with running(app) as url:
        late = httpx.post(f"{url}/ask", json={"question": TROOPS})
        assert late.status_code == 503
        assert late.headers["Retry-After"] == "5"
        assert "longer than 0.2 s (QA_REQUEST_TIMEOUT)" in late.json()["detail"]
        assert httpx.get(f"{url}/articles").status_code == 200  # quick requests are in time
        metrics = httpx.get(f"{url}/metrics").text
        assert 'status="503"' in metrics
    assert app.state.service.pending == 0


def test_rate_limit_is_off_by_default(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder
) -> None:
    app = create_app(seed_settings, encoder=lambda: real_encoder)
    with running(app) as url, httpx.Client(base_url=url) as client:
        statuses = {client.get("/ask", params={"q": TROOPS, "k": 1}).status_code for _ in range(30)}
    assert statuses == {200}
