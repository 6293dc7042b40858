"""Bad input, wider: random bytes, huge lines, deep HTML nesting and front matter that is
not a mapping give a warning (or a CorpusError for a file with nothing usable), never a
crash or a hang; gzip bodies are unpacked within the upload limit, bombs stop there."""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.corpus.load import load
from qa.encoders import Encoder
from qa.errors import CorpusError
from tests.test_api import KEY, serve

SUFFIXES = (".txt", ".md", ".html", ".jsonl")


def _load_one(name: str, data: bytes) -> list[str]:
    """Load one file; the problems it was skipped for (a CorpusError's too)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            loaded = load([path])
        except CorpusError as exc:  # nothing usable: an error that says so
            return [str(exc)]
        for article in loaded.articles:
            assert article.text.strip()
        return [str(p) for p in loaded.problems]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SUFFIXES), st.binary(max_size=4096))
def test_random_bytes_are_a_warning_or_an_error_never_a_crash(suffix: str, data: bytes) -> None:
    _load_one(f"random{suffix}", data)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(SUFFIXES),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200),
    st.integers(1_000, 20_000),
)
def test_huge_lines_load_or_warn(suffix: str, piece: str, times: int) -> None:
    _load_one(f"huge{suffix}", (piece * times).encode("utf-8", "surrogatepass")[:3_000_000])


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_html_loads_or_warns(depth: int) -> None:
    page = (
        "<html><body>"
        + "<div>" * depth
        + "<p>The talks in Minsk began on Monday, officials said.</p>"
        + "</div>" * depth
        + "</body></html>"
    )
    problems = _load_one("deep.html", page.encode())
    assert all("deep.html" in p for p in problems)


@pytest.mark.parametrize(
    "front",
    ["- a list\n- of things", "just a string", "42", "[1, 2]", "!!binary aGVsbG8=", "a: [b"],
)
def test_front_matter_that_is_not_a_mapping_is_a_warning(front: str) -> None:
    data = f"---\n{front}\n---\nThe talks in Minsk began on Monday, officials said.\n"
    problems = _load_one("story.md", data.encode())
    assert len(problems) == 1 and "story.md" in problems[0], problems


# -- gzip uploads ------------------------------------------------------------------------


@pytest.fixture
def limited(seed_copy: Path, real_encoder: Encoder) -> Iterator[httpx.Client]:
    with (
        serve(seed_copy, real_encoder, api_key=KEY, max_upload_bytes=100_000) as url,
        httpx.Client(
            base_url=url, timeout=120, headers={"Authorization": f"Bearer {KEY}"}
        ) as client,
    ):
        yield client


def _post(client: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    return client.post(
        "/articles",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def test_a_gzip_body_is_unpacked_and_stored(limited: httpx.Client) -> None:
    article = {"id": "grain", "title": "Grain", "text": "The first grain ship left Odesa."}
    response = _post(
        limited, gzip.compress(json.dumps(article).encode()), **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 201, response.text
    assert limited.get("/articles/grain").json()["text"] == article["text"]


def test_a_gzip_bomb_stops_at_the_upload_limit(limited: httpx.Client) -> None:
    bomb = gzip.compress(b'{"text": "' + b"0" * 50_000_000 + b'"}', compresslevel=9)
    assert len(bomb) < 100_000  # small on the wire, 50 MB unpacked
    response = _post(limited, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "over 0.1 MB" in response.json()["detail"]
    assert limited.get("/health").json()["articles"] == 5


@pytest.mark.parametrize(
    ("body", "encoding", "status", "detail"),
    [
        (b"not gzip at all", "gzip", 422, "the gzip body cannot be unpacked"),
        (gzip.compress(b'{"text": "cut"}')[:-12], "gzip", 422, "cut short"),
        (b"{}", "br", 415, "plain or with Content-Encoding gzip, not br"),
    ],
)
def test_bad_encodings_are_4xx_that_say_why(
    limited: httpx.Client, body: bytes, encoding: str, status: int, detail: str
) -> None:
    response = _post(limited, body, **{"Content-Encoding": encoding})
    assert response.status_code == status
    assert detail in response.json()["detail"]
