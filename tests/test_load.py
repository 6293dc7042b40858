"""Loading articles: file kinds, metadata, ids, and a Problem (never a crash) per broken file."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from qa.corpus.clean import clean
from qa.corpus.load import SUPPORTED, Loaded, load, path_id
from qa.corpus.meta import (
    Meta,
    normalise_published,
    parse_meta,
    read_manifest,
    split_front_matter,
    url_in_text,
)
from qa.errors import CorpusError
from qa.types import Article
from tests.conftest import SEEDS

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")

PARA_1 = "Military delegations from Russia and Ukraine met in Istanbul on Wednesday."
PARA_2 = "Turkish officials said the two sides had agreed on joint checks of grain ships."
BODY = f"{PARA_1}\n\n{PARA_2}\n"
CLEAN_BODY = f"{PARA_1}\n\n{PARA_2}"
OTHER = "Farmers in the south reported a record harvest of wheat this summer."

# A small news page as a browser gets it: navigation, the article, a footer.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Grain corridor talks resume in Istanbul | Harbour Herald</title>
  <meta property="og:title" content="Grain corridor talks resume in Istanbul">
  <meta property="og:site_name" content="Harbour Herald">
  <meta name="author" content="Maria Kovalenko">
  <meta property="article:published_time" content="2022-07-13T09:30:00+03:00">
  <link rel="canonical" href="https://harbourherald.example/2022/07/13/grain-corridor-talks">
</head>
<body>
  <header>
    <nav>
      <ul>
        <li><a href="/">Home</a></li>
        <li><a href="/world">World news</a></li>
        <li><a href="/business">Business</a></li>
        <li><a href="/subscribe">Subscribe now for full access to every story</a></li>
      </ul>
    </nav>
  </header>
  <main>
    <article>
      <h1>Grain corridor talks resume in Istanbul</h1>
      <p class="byline">By Maria Kovalenko</p>
      <p>Military delegations from Russia and Ukraine met in Istanbul on Wednesday to discuss
      a safe corridor for grain ships leaving Black Sea ports.</p>
      <p>Turkish officials, who hosted the meeting, said the two sides had agreed on joint
      checks of vessels in the harbour.</p>
      <p>"We have taken a step forward today, and we hope to sign the final text next week,"
      the Turkish defence minister told reporters after the talks.</p>
      <p>The United Nations secretary-general welcomed the progress but warned that more work
      was needed before any ship could sail.</p>
    </article>
  </main>
  <footer>
    <p>Copyright 2022 Harbour Herald. All rights reserved.</p>
    <ul>
      <li><a href="/privacy">Privacy policy</a></li>
      <li><a href="/contact">Contact the newsroom</a></li>
    </ul>
  </footer>
</body>
</html>
"""

NAV_ONLY_PAGE = """<!DOCTYPE html>
<html><head><title>Harbour Herald</title></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li></ul></nav>
<footer><p>Privacy policy</p></footer></body></html>
"""


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def front(fields: str, body: str = BODY) -> str:
    return f"---\n{fields}\n---\n{body}"


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def by_id(loaded: Loaded) -> dict[str, Article]:
    return {article.id: article for article in loaded.articles}


def messages(loaded: Loaded) -> list[str]:
    return [str(problem) for problem in loaded.problems]


def deny_reading(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """Reading ``target`` fails as it would without read permission (tests may run as root)."""
    real_read_bytes: Callable[[Path], bytes] = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.resolve() == target.resolve():
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def seed_manifest() -> dict[str, dict[str, object]]:
    data = yaml.safe_load((SEEDS / "metadata.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# --- the bundled seeds -----------------------------------------------------------------


def test_seeds_load_with_exactly_their_manifest_metadata() -> None:
    loaded = load([SEEDS])
    assert loaded.problems == ()
    manifest = seed_manifest()
    assert sorted(a.id for a in loaded.articles) == sorted(Path(n).stem for n in manifest)
    assert len(loaded.articles) == 5
    for article in loaded.articles:
        fields = manifest[f"{article.id}.txt"]
        expected = {name: fields.get(name) or None for name in ("title", "outlet", "author")}
        expected["published"] = str(fields["published"])
        expected["url"] = fields.get("url") or None
        got = asdict(article.source)
        assert got.pop("article_id") == article.id
        assert got == expected, article.id
        assert article.origin == str(SEEDS / f"{article.id}.txt")


def test_seed_texts_are_their_cleaned_files() -> None:
    manifest = seed_manifest()
    for article in load([SEEDS]).articles:
        raw = (SEEDS / f"{article.id}.txt").read_text(encoding="utf-8")
        source = article.source
        assert article.text == clean(raw, title=source.title, author=source.author)
        assert len(article.text) > 1000
        title = manifest[f"{article.id}.txt"]["title"]
        assert isinstance(title, str)
        assert not article.text.startswith(title)  # the headline is metadata, not text


def test_seed_moscow_times_url() -> None:
    article = by_id(load([SEEDS]))["003_8683e412f98dc48b"]
    assert article.source.outlet == "The Moscow Times"
    assert article.source.url == (
        "https://www.themoscowtimes.com/2022/02/25/putin-ready-to-send-delegates-to-negotiate"
        "-kremlin-say-s-as-russian-troops-encircle-kyiv-a76595"
    )


def test_original_url_line_of_a_seed_gives_its_url_without_a_manifest(tmp_path: Path) -> None:
    name = "003_8683e412f98dc48b.txt"
    copy = write(tmp_path / name, (SEEDS / name).read_bytes())
    article = load([copy]).articles[0]
    assert article.source.url is not None
    assert article.source.url.startswith("https://www.themoscowtimes.com/2022/02/25/putin-ready")
    assert "Original url" not in article.text and "themoscowtimes.com" not in article.text
    assert article.source.title is not None and article.source.title.startswith("Putin Ready")


# --- .txt and .md with front matter ----------------------------------------------------


def test_front_matter_gives_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "talks.md",
        front(
            "id: istanbul-2022\ntitle: Grain talks resume\noutlet: Harbour Herald\n"
            "author: Maria Kovalenko\npublished: 2022-07-13\n"
            "url: https://harbourherald.example/grain"
        ),
    )
    (article,) = load([path]).articles
    assert asdict(article.source) == {
        "article_id": "istanbul-2022",
        "title": "Grain talks resume",
        "outlet": "Harbour Herald",
        "author": "Maria Kovalenko",
        "published": "2022-07-13",
        "url": "https://harbourherald.example/grain",
    }
    assert article.text == CLEAN_BODY
    assert article.origin == str(path)


def test_text_without_front_matter_has_unknown_fields(tmp_path: Path) -> None:
    (article,) = load([write(tmp_path / "plain.txt", BODY)]).articles
    assert asdict(article.source) == {
        "article_id": "plain",
        "title": None,
        "outlet": None,
        "author": None,
        "published": None,
        "url": None,
    }
    assert article.text == CLEAN_BODY


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("2022-03-03", "2022-03-03"),  # a YAML date
        ('"2022-03-03"', "2022-03-03"),
        ('"2022-03"', "2022-03"),
        ("2022-03", "2022-03"),
        ("2022", "2022"),  # a YAML int
        ('"2022"', "2022"),
        ("2022-03-03T10:15:00Z", "2022-03-03"),  # a YAML datetime
        ("2022-03-03 23:30:00 -05:00", "2022-03-03"),
        ('"2022-03-03T10:15:00+02:00"', "2022-03-03"),
        ('"2022-03-03T10:15:30.125Z"', "2022-03-03"),
        ("", None),
    ],
)
def test_published_forms_are_normalised(tmp_path: Path, published: str, expected: str) -> None:
    path = write(tmp_path / "a.md", front(f"published: {published}"))
    (article,) = load([path]).articles
    assert article.source.published == expected


@pytest.mark.parametrize(
    ("published", "message"),
    [
        ("March 3", "published 'March 3' is not a date; write it as YYYY-MM-DD"),
        ('"2022-13-01"', "published '2022-13-01' is not a real date"),
        ("2022-13-01", "published '2022-13-01' is not a real date"),  # unquoted YAML
        ("2022-02-30", "published '2022-02-30' is not a real date"),  # unquoted YAML
        ('"2022-02-30T10:00:00Z"', "published '2022-02-30T10:00:00Z' is not a real date"),
        ('"2022 2023"', "published '2022 2023' is not a date"),
        ('"2022-03 10:00"', "published '2022-03 10:00' is not a date"),
        ('"22-03-03"', "published '22-03-03' is not a date"),
        ('"2022-3-3"', "published '2022-3-3' is not a date"),
        ("[2022, 2023]", "published must be a single value"),
    ],
)
def test_invalid_published_is_a_problem_naming_file_and_field(
    tmp_path: Path, published: str, message: str
) -> None:
    write(tmp_path / "good.txt", BODY)
    bad = write(tmp_path / "bad.md", front(f"title: Talks\npublished: {published}"))
    loaded = load([tmp_path])
    assert list(by_id(loaded)) == ["good"]
    (problem,) = messages(loaded)
    assert problem.startswith(f"{bad}: ")
    assert message in problem


def test_markdown_headings_emphasis_and_links_are_undone(tmp_path: Path) -> None:
    text = (
        "# Grain talks **resume** in [Istanbul](https://example.org/istanbul)\n\n"
        "## What happened\n\n"
        "Military delegations from **Russia** and __Ukraine__ met in "
        "[Istanbul](https://example.org/istanbul) on Wednesday.\n\n"
        "![A ship in the harbour](https://example.org/ship.jpg)\n\n"
        "> Turkish officials said the two sides had agreed on joint checks of grain ships.\n\n"
        "- The next round of talks is planned for next week in the same city.\n"
    )
    (article,) = load([write(tmp_path / "talks.md", text)]).articles
    assert article.text == (
        "Military delegations from Russia and Ukraine met in Istanbul on Wednesday.\n\n"
        "Turkish officials said the two sides had agreed on joint checks of grain ships.\n\n"
        "The next round of talks is planned for next week in the same city."
    )
    assert article.source.title == "Grain talks resume in Istanbul"


def test_markdown_is_undone_only_for_markdown_files(tmp_path: Path) -> None:
    line = "The **spokesman** said the talks would go on until a deal was found."
    loaded = load([write(tmp_path / "a.md", line), write(tmp_path / "b.txt", line)])
    assert by_id(loaded)["a"].text == line.replace("**", "")
    assert by_id(loaded)["b"].text == line


def test_dot_markdown_suffix_and_upper_case_suffixes_load(tmp_path: Path) -> None:
    write(tmp_path / "a.markdown", BODY)
    write(tmp_path / "b.TXT", BODY)
    write(tmp_path / "c.Md", BODY)
    assert sorted(by_id(load([tmp_path]))) == ["a", "b", "c"]


def test_front_matter_with_windows_line_endings(tmp_path: Path) -> None:
    text = front("id: crlf-talks\ntitle: Grain talks resume").replace("\n", "\r\n")
    (article,) = load([write(tmp_path / "a.md", text)]).articles
    assert (article.id, article.source.title) == ("crlf-talks", "Grain talks resume")
    assert article.text == CLEAN_BODY


def test_front_matter_may_end_with_dots_and_text_may_start_with_a_bom(tmp_path: Path) -> None:
    text = "\ufeff---\ntitle: Grain talks resume\n...\n" + BODY
    (article,) = load([write(tmp_path / "a.md", text)]).articles
    assert article.source.title == "Grain talks resume"
    assert article.text == CLEAN_BODY


# --- folder manifests ------------------------------------------------------------------


def test_manifest_fills_fields_and_front_matter_wins(tmp_path: Path) -> None:
    write(
        tmp_path / "metadata.yaml",
        "a.md:\n  title: Manifest title\n  outlet: Manifest Outlet\n  published: 2021-04\n"
        "b.txt:\n  author: Jane Doe\n  url: https://example.org/b\n"
        "missing.txt:\n  title: Nobody reads this\n",
    )
    write(tmp_path / "a.md", front("title: Front title\nauthor: Front Author"))
    write(tmp_path / "b.txt", BODY)
    write(tmp_path / "c.txt", BODY)
    loaded = load([tmp_path])
    assert [str(p) for p in loaded.problems] == [
        f"{tmp_path / 'metadata.yaml'}: no file 'missing.txt' in {tmp_path}; "
        "check the name (it must match the file's name exactly)"
    ]
    articles = by_id(loaded)
    a = articles["a"].source
    assert (a.title, a.outlet, a.author, a.published) == (
        "Front title",
        "Manifest Outlet",
        "Front Author",
        "2021-04",
    )
    b = articles["b"].source
    assert (b.title, b.author, b.url) == (None, "Jane Doe", "https://example.org/b")
    c = articles["c"].source
    assert (c.title, c.outlet, c.author, c.url) == (None, None, None, None)


def test_manifest_applies_to_its_own_folder_only(tmp_path: Path) -> None:
    write(tmp_path / "metadata.yaml", "a.txt:\n  outlet: Top\n")
    write(tmp_path / "world" / "metadata.yaml", "a.txt:\n  outlet: World desk\n")
    write(tmp_path / "a.txt", BODY)
    write(tmp_path / "world" / "a.txt", BODY)
    write(tmp_path / "europe" / "a.txt", BODY)
    articles = by_id(load([tmp_path]))
    assert articles["a"].source.outlet == "Top"
    assert articles["world-a"].source.outlet == "World desk"
    assert articles["europe-a"].source.outlet is None


def test_manifest_id_field_gives_the_id(tmp_path: Path) -> None:
    write(tmp_path / "metadata.yaml", "a.txt:\n  id: talks-1\n")
    write(tmp_path / "a.txt", BODY)
    assert list(by_id(load([tmp_path]))) == ["talks-1"]


def test_manifest_entry_naming_no_file_is_warned_about(tmp_path: Path) -> None:
    write(tmp_path / "metadata.yaml", "a.txt:\n  outlet: Top\nA.TXT:\n  outlet: Typo\n")
    write(tmp_path / "a.txt", BODY)
    loaded = load([tmp_path])
    assert by_id(loaded)["a"].source.outlet == "Top"
    (problem,) = loaded.problems
    assert "no file 'A.TXT'" in str(problem) and "metadata.yaml" in str(problem)


def test_manifest_for_a_single_file_is_read_too(tmp_path: Path) -> None:
    write(tmp_path / "metadata.yaml", "a.txt:\n  outlet: Harbour Herald\n")
    (article,) = load([write(tmp_path / "a.txt", BODY)]).articles
    assert article.source.outlet == "Harbour Herald"


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("a.txt: [unclosed\n", "metadata.yaml: not valid YAML (line"),
        ("- a.txt\n- b.txt\n", "metadata.yaml: must map file names to their fields"),
        ("a.txt: just a title\n", "the entry for 'a.txt' must be 'field: value' lines"),
        ("a.txt:\n  published: March 3\n", "metadata.yaml (a.txt): published 'March 3'"),
        ("a.txt:\n  published: 2022-02-30\n", "metadata.yaml (a.txt): published '2022-02-30'"),
        ("a.txt:\n  title: [a, b]\n", "title must be a single value"),
        ("a.txt:\n  id: bad id\n", "(a.txt): id 'bad id' must start with a letter or digit"),
    ],
)
def test_broken_manifest_is_a_problem_and_articles_still_load(
    tmp_path: Path, manifest: str, message: str
) -> None:
    write(tmp_path / "metadata.yaml", manifest)
    write(tmp_path / "a.txt", BODY)
    write(tmp_path / "b.txt", BODY)
    loaded = load([tmp_path])
    assert sorted(by_id(loaded)) == ["a", "b"]
    assert all(a.source.title is None for a in loaded.articles)
    (problem,) = messages(loaded)
    assert problem.startswith(str(tmp_path / "metadata.yaml"))
    assert message in problem
    assert problem.endswith("its metadata was not used")


def test_unreadable_manifest_is_a_problem_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write(tmp_path / "metadata.yaml", "a.txt:\n  outlet: Harbour Herald\n")
    write(tmp_path / "a.txt", BODY)
    write(tmp_path / "b.txt", BODY)
    deny_reading(monkeypatch, manifest)
    loaded = load([tmp_path])
    assert sorted(by_id(loaded)) == ["a", "b"]
    assert by_id(loaded)["a"].source.outlet is None
    (problem,) = messages(loaded)
    assert problem.startswith(f"{manifest}: cannot be read (Permission denied)")
    assert "its metadata was not used" in problem


# --- titles and urls found in the text -------------------------------------------------


def test_txt_title_from_its_headline(tmp_path: Path) -> None:
    text = f"\n\nGrain corridor talks resume in Istanbul\n\n{BODY}"
    (article,) = load([write(tmp_path / "a.txt", text)]).articles
    assert article.source.title == "Grain corridor talks resume in Istanbul"
    assert article.text == CLEAN_BODY


def test_first_line_that_is_a_sentence_is_not_a_title(tmp_path: Path) -> None:
    (article,) = load([write(tmp_path / "a.txt", BODY)]).articles
    assert article.source.title is None
    assert article.text.startswith(PARA_1)


def test_declared_title_wins_over_headline(tmp_path: Path) -> None:
    text = front("title: Declared title", f"Headline in the text\n\n{BODY}")
    (article,) = load([write(tmp_path / "a.md", text)]).articles
    assert article.source.title == "Declared title"


@pytest.mark.parametrize(
    "line",
    [
        "Original url: <https://example.org/news/talks-resume>",
        "Original url: https://example.org/news/talks-resume",
        "Original url:\n\n<https://example.org/news/talks-resume>",
        "source URL: https://example.org/news/talks-resume",
    ],
)
def test_original_url_line_gives_the_url(tmp_path: Path, line: str) -> None:
    text = f"{BODY}\n{OTHER}\n\n{line}\n"
    (article,) = load([write(tmp_path / "a.txt", text)]).articles
    assert article.source.url == "https://example.org/news/talks-resume"
    assert article.text == f"{CLEAN_BODY}\n\n{OTHER}"


def test_declared_url_wins_over_original_url_line(tmp_path: Path) -> None:
    text = front(
        "url: https://declared.example/a", f"{BODY}\nOriginal url: <https://other.example/b>\n"
    )
    (article,) = load([write(tmp_path / "a.md", text)]).articles
    assert article.source.url == "https://declared.example/a"


def test_url_mentioned_in_a_sentence_is_not_the_url(tmp_path: Path) -> None:
    text = f"{BODY}\nThe original url: https://example.org/x was quoted by the spokesman.\n"
    (article,) = load([write(tmp_path / "a.txt", text)]).articles
    assert article.source.url is None


# --- HTML ------------------------------------------------------------------------------


def test_html_page_gives_main_text_and_metadata(tmp_path: Path) -> None:
    loaded = load([write(tmp_path / "grain-talks.html", PAGE)])
    assert loaded.problems == ()
    (article,) = loaded.articles
    assert asdict(article.source) == {
        "article_id": "grain-talks",
        "title": "Grain corridor talks resume in Istanbul",
        "outlet": "Harbour Herald",
        "author": "Maria Kovalenko",
        "published": "2022-07-13",
        "url": "https://harbourherald.example/2022/07/13/grain-corridor-talks",
    }
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0] == (
        "Military delegations from Russia and Ukraine met in Istanbul on Wednesday to discuss "
        "a safe corridor for grain ships leaving Black Sea ports."
    )
    assert len(paragraphs) == 4
    assert paragraphs[-1].startswith("The United Nations secretary-general welcomed")
    for chrome in ("Home", "World news", "Subscribe", "Privacy policy", "Contact", "rights"):
        assert chrome not in article.text
    assert "Grain corridor talks resume" not in article.text  # the headline is the title


def test_htm_suffix_and_manifest_for_html(tmp_path: Path) -> None:
    write(tmp_path / "metadata.yaml", "page.htm:\n  outlet: Herald Print Edition\n")
    write(tmp_path / "page.htm", PAGE)
    (article,) = load([tmp_path]).articles
    assert article.id == "page"
    assert article.source.outlet == "Herald Print Edition"
    assert article.source.author == "Maria Kovalenko"


# --- JSONL -----------------------------------------------------------------------------


def test_jsonl_one_article_per_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "feed.jsonl",
        jsonl(
            {
                "id": "grain-1",
                "title": "Grain talks resume",
                "text": BODY,
                "outlet": "Harbour Herald",
                "author": "Maria Kovalenko",
                "published": "2022-07-13T09:30:00+03:00",
                "url": "https://harbourherald.example/grain",
            },
            {"id": 42, "title": "Harvest", "text": OTHER},
        )
        + "\n   \n",
    )
    loaded = load([path])
    assert loaded.problems == ()
    articles = by_id(loaded)
    assert list(articles) == ["grain-1", "42"]
    assert asdict(articles["grain-1"].source) == {
        "article_id": "grain-1",
        "title": "Grain talks resume",
        "outlet": "Harbour Herald",
        "author": "Maria Kovalenko",
        "published": "2022-07-13",
        "url": "https://harbourherald.example/grain",
    }
    assert articles["grain-1"].text == CLEAN_BODY
    assert articles["grain-1"].origin == f"{path}:1"
    assert articles["42"].source.outlet is None
    assert articles["42"].origin == f"{path}:2"


def test_jsonl_with_bom_and_windows_line_endings(tmp_path: Path) -> None:
    text = "\ufeff" + jsonl({"id": "a", "text": BODY}, {"id": "b", "text": OTHER})
    path = write(tmp_path / "feed.jsonl", text.replace("\n", "\r\n").encode("utf-8"))
    loaded = load([path])
    assert loaded.problems == ()
    assert list(by_id(loaded)) == ["a", "b"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"id": "x", "text": ', "not valid JSON (Expecting value at column 21)"),
        (b"{'id': 'x'}", "not valid JSON (Expecting property name enclosed in double quotes"),
        (b'["x", "text"]', "each line must be a JSON object with id, title and text"),
        (b'"just a string"', "each line must be a JSON object"),
        (b"null", "each line must be a JSON object"),
        (b'{"title": "T", "text": "Delegations met in Istanbul today."}', "'id' field is missing"),
        (b'{"id": " ", "text": "Delegations met in Istanbul today."}', "'id' field is missing"),
        (b'{"id": "x", "title": "T"}', "the 'text' field is missing or empty"),
        (b'{"id": "x", "text": " \\n "}', "the 'text' field is missing or empty"),
        (b'{"id": "x", "text": ["Delegations met."]}', "the 'text' field is missing or empty"),
        (
            b'{"id": "bad id!", "text": "Delegations met in Istanbul today."}',
            "id 'bad id!' must start with a letter or digit and contain only",
        ),
        (
            b'{"id": "-x", "text": "Delegations met in Istanbul today."}',
            "id '-x' must start with a letter or digit",
        ),
        (
            b'{"id": "x", "text": "Delegations met in Istanbul today.", "published": "March 3"}',
            "published 'March 3' is not a date",
        ),
        (
            b'{"id": "x", "text": "Delegations met in Istanbul today.", "published": "2022-13-01"}',
            "published '2022-13-01' is not a real date",
        ),
        (
            b'{"id": "x", "text": "Delegations met in Istanbul today.", "author": {"n": 1}}',
            "author must be a single value",
        ),
        (
            b'{"id": "x", "text": "Home | World | Subscribe now"}',
            "no article text left after removing site chrome",
        ),
        (
            '{"id": "x", "text": "\u201cTalks\u201d went on in Istanbul today."}'.encode("cp1252"),
            "not UTF-8 text (byte 0x93 at offset 21)",
        ),
    ],
)
def test_bad_jsonl_line_is_a_problem_naming_file_and_line(
    tmp_path: Path, line: bytes, message: str
) -> None:
    good_1 = json.dumps({"id": "good-1", "text": BODY}).encode()
    good_2 = json.dumps({"id": "good-2", "text": OTHER}).encode()
    path = write(tmp_path / "feed.jsonl", b"\n".join([good_1, b"", line, good_2, b""]))
    write(tmp_path / "other.txt", BODY)
    loaded = load([tmp_path])
    assert sorted(by_id(loaded)) == ["good-1", "good-2", "other"]
    assert by_id(loaded)["good-2"].origin == f"{path}:4"
    (problem,) = messages(loaded)
    assert problem.startswith(f"{path}:3: ")
    assert message in problem


def test_every_bad_jsonl_line_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path / "feed.jsonl",
        "not json\n"
        + jsonl(
            {"id": "a", "text": BODY}, {"id": "b"}, {"text": OTHER}, {"id": "c", "text": OTHER}
        ),
    )
    loaded = load([path])
    assert sorted(by_id(loaded)) == ["a", "c"]
    assert [p.split(": ")[0] for p in messages(loaded)] == [f"{path}:1", f"{path}:3", f"{path}:4"]


def test_duplicate_id_inside_jsonl_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "feed.jsonl", jsonl({"id": "a", "text": BODY}, {"id": "a", "text": OTHER})
    )
    loaded = load([path])
    (article,) = loaded.articles
    assert article.text == CLEAN_BODY
    (problem,) = messages(loaded)
    assert problem.startswith(f"{path}:2: id 'a' is already used by {path}:1; skipped.")


# --- folders and ids -------------------------------------------------------------------


def test_folders_are_read_recursively_with_path_ids(tmp_path: Path) -> None:
    write(tmp_path / "intro.txt", BODY)
    write(tmp_path / "world" / "talks.txt", BODY)
    write(tmp_path / "world" / "europe" / "grain deal.md", BODY)
    write(tmp_path / "world" / "page.html", PAGE)
    write(tmp_path / "feed" / "items.jsonl", jsonl({"id": "feed-item", "text": OTHER}))
    loaded = load([tmp_path])
    assert loaded.problems == ()
    articles = by_id(loaded)
    assert sorted(articles) == [
        "feed-item",
        "intro",
        "world-europe-grain-deal",
        "world-page",
        "world-talks",
    ]
    assert articles["world-talks"].origin == str(tmp_path / "world" / "talks.txt")


def test_hidden_and_other_files_are_skipped_silently(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", BODY)
    write(tmp_path / ".draft.txt", BODY)
    write(tmp_path / ".git" / "notes.txt", BODY)
    write(tmp_path / "world" / ".cache" / "old.md", BODY)
    write(tmp_path / "scan.pdf", b"%PDF-1.4 binary")
    write(tmp_path / "photo.jpg", b"\xff\xd8\xff\xe0")
    write(tmp_path / "README", BODY)
    write(tmp_path / "notes.txt.bak", BODY)
    (tmp_path / "folder.txt").mkdir()
    loaded = load([tmp_path])
    assert list(by_id(loaded)) == ["a"]
    assert loaded.problems == ()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("scan.pdf", f"unsupported file type '.pdf'; qa reads {SUPPORTED}"),
        ("README", f"unsupported file type '(none)'; qa reads {SUPPORTED}"),
        ("data.CSV", f"unsupported file type '.CSV'; qa reads {SUPPORTED}"),
    ],
)
def test_unsupported_file_named_explicitly_is_a_problem(
    tmp_path: Path, name: str, message: str
) -> None:
    good = write(tmp_path / "good.txt", BODY)
    odd = write(tmp_path / name, BODY)
    loaded = load([good, odd])
    assert list(by_id(loaded)) == ["good"]
    assert messages(loaded) == [f"{odd}: {message}"]


def test_single_file_id_is_its_stem(tmp_path: Path) -> None:
    path = write(tmp_path / "world" / "talks.v2.txt", BODY)
    assert [a.id for a in load([path]).articles] == ["talks.v2"]
    assert [a.id for a in load([tmp_path]).articles] == ["world-talks.v2"]


def test_explicit_hidden_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path / ".draft.txt", BODY)
    (article,) = load([path]).articles
    assert article.id == "draft"


def test_front_matter_id_wins_over_path_id(tmp_path: Path) -> None:
    write(tmp_path / "world" / "talks.md", front("id: istanbul-talks"))
    assert list(by_id(load([tmp_path]))) == ["istanbul-talks"]


def test_ids_are_stable_and_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", BODY)
    write(corpus / "world" / "talks.md", BODY)
    write(corpus / "feed.jsonl", jsonl({"id": "j", "text": OTHER}))
    first = load([corpus])
    monkeypatch.chdir(tmp_path)
    relative = load([Path("corpus")])
    monkeypatch.chdir(corpus / "world")
    dotted = load(["../../corpus/"])
    monkeypatch.chdir(corpus)
    here = load(["."])
    expected = ["a", "j", "world-talks"]
    for loaded in (first, relative, dotted, here):
        assert sorted(by_id(loaded)) == expected
        assert {a.id: a.text_hash for a in loaded.articles} == {
            a.id: a.text_hash for a in first.articles
        }
    assert first.articles == load([corpus]).articles


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("talks.txt", "talks"),
        ("world/talks.txt", "world-talks"),
        ("world/europe/grain deal.md", "world-europe-grain-deal"),
        ("2022/03/03/talks.html", "2022-03-03-talks"),
        ("world/talks.v2.txt", "world-talks.v2"),
        ("Grain & Oil (update).txt", "Grain-Oil-update"),
        ("café.txt", "cafe"),
        ("notes_/draft_.txt", "notes_-draft_"),
    ],
)
def test_path_id_examples(tmp_path: Path, relative: str, expected: str) -> None:
    assert path_id(tmp_path / relative, tmp_path) == expected


def test_path_ids_that_would_be_invalid_are_made_valid(tmp_path: Path) -> None:
    names = [
        "_draft.txt",
        "-x.txt",
        "Київ.txt",
        "Путін.txt",
        "日本.txt",
        "€.txt",
        "x" * 250 + ".txt",
    ]
    for name in names:
        write(tmp_path / name, BODY)
    loaded = load([tmp_path])
    assert loaded.problems == ()
    assert len(loaded.articles) == len(names)
    for article in loaded.articles:
        assert ID_PATTERN.match(article.id) and len(article.id) <= 200, article.id
    assert by_id(loaded).keys() >= {"draft", "x"}
    assert load([tmp_path]).articles == loaded.articles


def test_file_name_that_is_not_utf8_loads_with_a_storable_origin(tmp_path: Path) -> None:
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9 talks.txt"))
    write(path, BODY)
    (article,) = load([tmp_path]).articles
    assert ID_PATTERN.match(article.id)
    assert article.origin is not None
    assert article.origin.encode("utf-8").endswith("caf\ufffd talks.txt".encode())


def test_non_ascii_names_keep_distinct_ids(tmp_path: Path) -> None:
    write(tmp_path / "Київ.txt", BODY)
    write(tmp_path / "Москва.txt", OTHER)
    write(tmp_path / "world" / "Київ.txt", OTHER)
    loaded = load([tmp_path])
    assert loaded.problems == ()
    assert len({a.id for a in loaded.articles}) == 3


# Path parts: mostly the characters that matter to ids (ASCII, separators, dots,
# underscores, non-ASCII letters), sometimes any character a file name may hold.
PATH_PART = st.text(
    st.sampled_from("aZ09_-. .&é́Кї日€") | st.characters(exclude_characters="/\x00"),
    min_size=1,
    max_size=90,
).filter(lambda part: part not in (".", ".."))


@given(
    st.lists(PATH_PART, min_size=1, max_size=6),
    st.sampled_from(["", ".txt", ".md", ".jsonl"]),
)
def test_path_id_is_always_a_valid_stable_id(parts: list[str], suffix: str) -> None:
    root = Path("/corpus")
    path = root.joinpath(*parts[:-1], parts[-1] + suffix)
    article_id = path_id(path, root)
    assert ID_PATTERN.match(article_id), article_id
    assert len(article_id) <= 200
    assert path_id(path, root) == article_id
    assert path_id(Path("corpus").joinpath(*path.parts[2:]), Path("corpus")) == article_id


@given(
    st.lists(st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True), min_size=1, max_size=5),
    st.sampled_from([".txt", ".md", ".html"]),
)
def test_path_id_of_plain_names_joins_them(parts: list[str], suffix: str) -> None:
    root = Path("corpus")
    assert path_id(root.joinpath(*parts[:-1], parts[-1] + suffix), root) == "-".join(parts)


# --- duplicates ------------------------------------------------------------------------


def test_second_file_with_the_same_id_is_skipped_naming_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a.md", front("id: talks\ntitle: First"))
    second = write(tmp_path / "b.md", front("id: talks\ntitle: Second"))
    loaded = load([tmp_path])
    (article,) = loaded.articles
    assert article.source.title == "First"
    (problem,) = messages(loaded)
    assert problem.startswith(f"{second}: id 'talks' is already used by {first}; skipped.")
    assert "Give one of them another id" in problem


def test_path_ids_that_collide_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "world" / "talks.txt", BODY)
    write(tmp_path / "world-talks.txt", OTHER)
    loaded = load([tmp_path])
    assert [a.id for a in loaded.articles] == ["world-talks"]
    (problem,) = messages(loaded)
    assert "world-talks.txt" in problem and str(Path("world") / "talks.txt") in problem


def test_a_file_named_twice_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "world" / "talks.txt", BODY)
    monkeypatch.chdir(tmp_path)
    for paths in (
        [tmp_path, tmp_path],
        [tmp_path, Path("."), tmp_path / "world" / "talks.txt"],
        [Path("world/talks.txt"), tmp_path / "world" / "talks.txt"],
    ):
        loaded = load(paths)
        assert len(loaded.articles) == 1, paths
        assert loaded.problems == ()
    assert [a.id for a in load([tmp_path, tmp_path / "world" / "talks.txt"]).articles] == [
        "world-talks"
    ]


# --- broken files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "the file is empty"),
        ("blank.md", b"  \n\t\n\r\n", "the file is empty"),
        ("bom.txt", b"\xef\xbb\xbf\n", "the file is empty"),
        ("empty.html", b"", "the file is empty"),
        ("empty.jsonl", b"", "the file is empty"),
        ("blank.jsonl", b"\n \n\n", "the file is empty"),
        (
            "cp1252.txt",
            "\u201cTalks\u201d resumed in Istanbul on Wednesday.".encode("cp1252"),
            "not UTF-8 text (byte 0x93 at offset 0); convert it, for example with `iconv",
        ),
        (
            "latin1.md",
            "Les délégations se sont réunies à Istanbul mercredi.".encode("latin-1"),
            "not UTF-8 text (byte 0xe9 at offset 5)",
        ),
        ("chrome.txt", "Home\nWorld\nBusiness\n\nSubscribe now\n", "no article text left"),
        (
            "prompts.md",
            "Sign up for our newsletter and get the news in your inbox every morning.\n",
            "no article text left after removing site chrome",
        ),
        ("nav.html", NAV_ONLY_PAGE, "no article text"),
        ("bad_yaml.md", front("title: [unclosed"), "front matter is not valid YAML (line"),
        ("tabs.md", front("title: a\n\tauthor: b"), "front matter is not valid YAML"),
        ("list.md", front("- title\n- author"), "front matter must be 'field: value' lines"),
        ("scalar.md", front("just some words"), "front matter must be 'field: value' lines"),
        ("only_front.md", front("title: Talks", ""), "no text after the front matter"),
        ("bad_id.md", front("id: bad id"), "id 'bad id' must start with a letter or digit"),
        ("title_list.md", front("title: [a, b]"), "title must be a single value"),
        ("date.md", front("published: 2022-02-30"), "published '2022-02-30' is not a real date"),
    ],
)
def test_broken_file_is_a_problem_and_others_still_load(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    write(tmp_path / "good.txt", BODY)
    write(tmp_path / "world" / "also-good.md", BODY)
    broken = write(tmp_path / name, content)
    loaded = load([tmp_path])
    assert sorted(by_id(loaded)) == ["good", "world-also-good"]
    (problem,) = messages(loaded)
    assert problem.startswith(f"{broken}: ")
    assert message in problem


@pytest.mark.parametrize("name", ["locked.txt", "locked.md", "locked.html", "locked.jsonl"])
def test_unreadable_file_is_a_problem_and_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    write(tmp_path / "good.txt", BODY)
    locked = write(tmp_path / name, jsonl({"id": "x", "text": BODY}) if "jsonl" in name else BODY)
    deny_reading(monkeypatch, locked)
    loaded = load([tmp_path])
    assert list(by_id(loaded)) == ["good"]
    assert messages(loaded) == [f"{locked}: cannot be read (Permission denied)"]


# --- nothing to load -------------------------------------------------------------------


def test_missing_path_raises_naming_it(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", BODY)
    missing = tmp_path / "no-such-folder"
    with pytest.raises(CorpusError, match=f"^{re.escape(str(missing))}: no such file or folder$"):
        load([tmp_path / "a.txt", missing])


@pytest.mark.parametrize(
    ("files", "detail"),
    [
        ({}, ""),
        ({"metadata.yaml": "a.txt:\n  title: A\n"}, ""),
        ({"scan.pdf": "%PDF", "photo.jpg": "jpg", ".hidden.txt": BODY}, ""),
        ({"empty.txt": ""}, "skipped: {folder}/empty.txt: the file is empty"),
        (
            {"chrome.txt": "Home\nWorld\n", "sub/bad.md": front("- a")},
            "skipped: {folder}/chrome.txt: no article text left",
        ),
        ({"feed.jsonl": "{broken\n"}, "{folder}/feed.jsonl:1: not valid JSON"),
    ],
)
def test_folder_without_articles_raises_naming_it(
    tmp_path: Path, files: dict[str, str], detail: str
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, content in files.items():
        write(folder / name, content)
    with pytest.raises(CorpusError) as caught:
        load([folder])
    message = str(caught.value)
    assert message.startswith(f"no articles found in {folder} (qa reads {SUPPORTED} files)")
    assert detail.format(folder=folder) in message
    if not detail:
        assert "skipped" not in message


def test_explicit_file_without_article_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "scan.pdf", "%PDF")
    with pytest.raises(CorpusError, match=r"no articles found in .*scan\.pdf.*unsupported file"):
        load([path])


# --- text and its hash -----------------------------------------------------------------


def test_article_text_is_the_cleaned_text(tmp_path: Path) -> None:
    raw = (
        "Home | World | Business\n\n"
        f"{PARA_1}\n\n"
        "Photo: Ozan Kose / AFP via Getty Images\n\n"
        "Subscribe now to read every story without limits.\n\n"
        f"{PARA_2}\n"
        "Turkish officials said\n"
        "the next round would follow within days.\n\n"
        "Read more\n\n"
        "Markets rally on hopes of grain exports\n"
    )
    (article,) = load([write(tmp_path / "a.txt", raw)]).articles
    assert article.text == clean(raw, title=article.source.title)
    assert article.text == (
        f"{PARA_1}\n\n{PARA_2}\n\nTurkish officials said the next round would follow within days."
    )


def test_text_hash_follows_the_text_not_the_metadata(tmp_path: Path) -> None:
    path = tmp_path / "a.md"

    def loaded_with(fields: str, body: str = BODY) -> Article:
        write(path, front(fields, body))
        (article,) = load([path]).articles
        return article

    base = loaded_with("outlet: Harbour Herald\npublished: 2022-07-13")
    same_text = loaded_with(
        "outlet: Another Outlet\npublished: 2021\nurl: https://example.org/x\ntitle: New title"
    )
    assert same_text.source != base.source
    assert same_text.text_hash == base.text_hash
    changed = loaded_with("outlet: Harbour Herald", BODY.replace("Wednesday", "Thursday"))
    assert changed.text_hash != base.text_hash
    only_chrome_added = loaded_with("outlet: Harbour Herald", f"Home | World\n\n{BODY}")
    assert only_chrome_added.text_hash == base.text_hash
    assert re.fullmatch(r"[0-9a-f]{64}", base.text_hash)


# --- the metadata helpers --------------------------------------------------------------


@given(st.dates())
def test_normalise_published_round_trips_dates(day: dt.date) -> None:
    iso = day.isoformat()
    assert normalise_published(iso, where="x") == iso
    assert normalise_published(day, where="x") == iso
    assert normalise_published(iso[:7], where="x") == iso[:7]
    assert normalise_published(iso[:4], where="x") == iso[:4]
    if day.year >= 1000:  # a YAML int year
        assert normalise_published(day.year, where="x") == iso[:4]


@given(st.datetimes(timezones=st.none() | st.timezones()), st.sampled_from(["T", " "]))
def test_normalise_published_keeps_the_date_of_a_datetime(moment: dt.datetime, sep: str) -> None:
    day = moment.date().isoformat()
    assert normalise_published(moment, where="x") == day
    assert normalise_published(moment.isoformat(sep=sep), where="x") == day


@given(st.dates())
def test_normalise_published_is_idempotent(day: dt.date) -> None:
    for value in (day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]):
        once = normalise_published(value, where="x")
        assert normalise_published(once, where="x") == once


@given(st.integers(1, 9999), st.integers(1, 12), st.integers(29, 31))
def test_normalise_published_rejects_impossible_days(year: int, month: int, day: int) -> None:
    value = f"{year:04d}-{month:02d}-{day:02d}"
    text = front(f"published: {value}")  # unquoted: YAML reads it as a timestamp
    try:
        dt.date(year, month, day)
    except ValueError:
        message = rf"^f\.md: published '{value}' is not a real date"
        with pytest.raises(CorpusError, match=message):
            normalise_published(value, where="f.md")
        with pytest.raises(CorpusError, match=message):
            split_front_matter(text, where="f.md")
    else:
        assert normalise_published(value, where="f.md") == value
        assert split_front_matter(text, where="f.md")[0].published == value


@given(st.dates(), st.sampled_from(["{}", '"{}"', "'{}'"]))
def test_front_matter_dates_round_trip(day: dt.date, quoting: str) -> None:
    meta, body = split_front_matter(front(f"published: {quoting.format(day)}"), where="f.md")
    assert meta.published == day.isoformat()
    assert body == BODY


@pytest.mark.parametrize("value", [None, ""])
def test_normalise_published_of_nothing_is_none(value: object) -> None:
    assert normalise_published(value, where="x") is None


def test_split_front_matter_without_a_block_keeps_the_text() -> None:
    for text in (BODY, f"\n---\ntitle: x\n---\n{BODY}", f"--- not a fence\n{BODY}"):
        assert split_front_matter(text, where="a.md") == (Meta(), text)


def test_split_front_matter_returns_the_body_after_the_block() -> None:
    meta, body = split_front_matter(front("title: T\nid: t-1\nextra: ignored"), where="a.md")
    assert meta == Meta(id="t-1", title="T")
    assert body == BODY
    assert split_front_matter("---\n---\n" + BODY, where="a.md") == (Meta(), BODY)


def test_meta_over_prefers_known_fields() -> None:
    mine = Meta(title="Mine", published="2022")
    theirs = Meta(id="x", title="Theirs", outlet="Outlet")
    assert mine.over(theirs) == Meta(id="x", title="Mine", outlet="Outlet", published="2022")
    assert theirs.over(mine) == Meta(id="x", title="Theirs", outlet="Outlet", published="2022")


def test_parse_meta_trims_and_stringifies() -> None:
    meta = parse_meta(
        {"title": "  Talks  ", "outlet": "", "author": 1984, "published": dt.date(2022, 3, 3)},
        where="w",
    )
    assert meta == Meta(title="Talks", author="1984", published="2022-03-03")


def test_read_manifest_maps_names_to_meta() -> None:
    manifest = read_manifest("a.txt:\n  title: A\nb.md:\n", where="metadata.yaml")
    assert manifest == {"a.txt": Meta(title="A"), "b.md": Meta()}
    assert read_manifest("# only a comment\n", where="metadata.yaml") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Original url: <https://a.example/x>", "https://a.example/x"),
        ("CANONICAL URL: http://a.example/x?y=1", "http://a.example/x?y=1"),
        ("body\nSource url:\n\n<https://a.example/x>\nmore", "https://a.example/x"),
        ("Original url: ftp://a.example/x", None),
        ("See the original url: https://a.example/x for more.", None),
        ("no address here", None),
    ],
)
def test_url_in_text(text: str, expected: str | None) -> None:
    assert url_in_text(text) == expected


def test_loading_does_not_change_the_files(tmp_path: Path) -> None:
    write(tmp_path / "a.md", front("title: T"))
    write(tmp_path / "b.jsonl", jsonl({"id": "b", "text": BODY}))
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    mtimes = {p: os.stat(p).st_mtime_ns for p in tmp_path.iterdir()}
    load([tmp_path])
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert {p: os.stat(p).st_mtime_ns for p in tmp_path.iterdir()} == mtimes
