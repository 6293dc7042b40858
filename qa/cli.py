"""The `qa` command. Errors are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from qa.config import Settings, get_settings, threshold_warning
from qa.errors import QAError
from qa.questions import check_k, check_question
from qa.schemas import SourceOut, article_out, ask_response
from qa.types import Article, Result, Source

if TYPE_CHECKING:
    from qa.feeds import Watcher
    from qa.retrieve import Retriever
    from qa.store import Snapshot

F = TypeVar("F", bound=Callable[..., Any])
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _settings(index_dir: Path | None) -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"index_dir": index_dir}) if index_dir else settings


def _index_dir_option(func: F) -> F:
    option = click.option(
        "--index-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where the index lives (default: $QA_INDEX_DIR or ./index).",
    )
    return option(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa")
def cli() -> None:
    """Answer questions about news articles with verbatim quotes and their sources."""


@cli.command("index")
@click.argument("paths", nargs=-1)
@_index_dir_option
@click.option("--add", is_flag=True, help="Add to the index instead of replacing its articles.")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Keep the indexed articles (and add PATHS) and remake the vector index from the "
    "stored vectors, retraining an approximate one; nothing is embedded again.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or warnings.")
def index_command(
    paths: tuple[str, ...], index_dir: Path | None, add: bool, rebuild: bool, quiet: bool
) -> None:
    """Index articles (default: the seed articles) so that questions can be asked.

    PATHS are files or folders of .txt, .md, .html or .jsonl articles, or http(s)
    URLs of pages or RSS/Atom feeds (each entry's page is added). Without --add the
    index holds exactly these articles; unchanged ones are not embedded again. An
    interrupted build starts again where it stopped: what was embedded is kept.
    """
    from qa.corpus.load import load
    from qa.encoders import get_encoder
    from qa.indexing import build
    from qa.store import get_store

    settings = _settings(index_dir)
    if add and not paths:
        raise click.UsageError("--add needs the PATH or URL of the articles to add")
    add = add or rebuild
    urls = [p for p in paths if _is_url(p)]
    files = [Path(p) for p in paths if not _is_url(p)]
    articles: list[Article] = []
    if files or not (urls or rebuild):
        loaded = load(files or [settings.seeds_dir])
        articles.extend(loaded.articles)
        _warn(map(str, loaded.problems), quiet)
    if urls:
        articles.extend(_fetch_articles(urls, settings, add=add, quiet=quiet))
    report = build(
        get_store(settings),
        articles,
        settings,
        lambda: get_encoder(settings),
        add=add,
        retrain=rebuild,
        progress=not quiet,
    )
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if report.up_to_date:
        click.echo(
            f"The index in {report.location} is up to date: {report.articles} articles, "
            f"{report.passages} passages."
        )
        return
    changes = [
        f"{len(ids)} {what}"
        for what, ids in (
            ("added", report.added),
            ("updated", report.updated),
            ("removed", report.removed),
        )
        if ids
    ]
    if rebuild and not changes:
        changes = ["vector index remade"]
    click.echo(
        f"Indexed {report.articles} articles, {report.passages} passages in {report.location}"
        f" ({', '.join(changes) or 'metadata updated'}; {report.embedded} passages embedded)."
    )


def _is_url(text: str) -> bool:
    from qa.feeds import is_url

    return is_url(text)


def _fetch_articles(
    urls: list[str], settings: Settings, *, add: bool, quiet: bool
) -> list[Article]:
    """The articles of pages and feeds; each that fails is a warning, all failing an error."""
    from qa.errors import IndexMissingError
    from qa.feeds import Collector, Fetcher
    from qa.store import get_store

    indexed: dict[str, Article] = {}
    if add:  # what is indexed already is not added twice
        with contextlib.suppress(IndexMissingError):
            indexed = dict(get_store(settings).open().documents.articles)
    found = Collector(Fetcher(settings), indexed).urls(urls)
    _warn(found.problems, quiet)
    if not quiet:
        for skipped in found.skipped:
            click.echo(f"note: skipped {skipped}", err=True)
    if not found.articles and not found.skipped:
        raise QAError(
            f"nothing could be added from {', '.join(urls)}: see the warnings above"
            if not quiet
            else "; ".join(found.problems)
        )
    return list(found.articles.values())


def _warn(problems: Any, quiet: bool) -> None:
    if not quiet:
        for problem in problems:
            click.echo(f"warning: {problem}", err=True)


@cli.command("encoder")
def encoder_command() -> None:
    """Load the encoder QA_ENCODER names, exporting it to ONNX first if it is not cached
    (`make install` runs this), and say what computes the vectors."""
    from qa.encoders import get_encoder, get_query_encoder

    settings = get_settings()
    encoder = get_encoder(settings)
    where = getattr(encoder, "export", None)
    click.echo(
        f"{encoder.backend} encoder, model {encoder.name}, {encoder.dimension} dimensions"
        + (f", ONNX files in {where.folder}" if where is not None else "")
    )
    asking = get_query_encoder(settings)
    if asking.backend != encoder.backend:
        click.echo(f"questions: {asking.backend} ({settings.retriever} retrieval)")


def _filter_options(func: F) -> F:
    """--outlet, --from and --to: which articles may answer."""
    for option in reversed(
        [
            click.option(
                "--outlet", "outlets", multiple=True, help="Only this outlet (repeat for more)."
            ),
            click.option("--from", "published_from", help="Only articles from this day on."),
            click.option("--to", "published_to", help="Only articles up to this day."),
        ]
    ):
        func = option(func)
    return func


def _checked_question(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The question within QA_MAX_QUESTION_CHARS, said before the model loads."""
    check_question(value, get_settings())
    return value


def _checked_k(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None:
        check_k(value, get_settings())
    return value


def _k_option(about: str) -> Callable[[F], F]:
    """--k, checked against QA_MAX_K as soon as it is parsed."""
    return click.option("--k", "k", type=int, default=None, callback=_checked_k, help=about)


@cli.command("ask")
@click.argument("question", callback=_checked_question)
@_k_option("How many answers (1-50, default 5).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer shape as JSON.")
@_filter_options
@_index_dir_option
def ask_command(
    question: str,
    k: int | None,
    as_json: bool,
    outlets: tuple[str, ...],
    published_from: str | None,
    published_to: str | None,
    index_dir: Path | None,
) -> None:
    """Answer QUESTION with quotes from the indexed articles."""
    from qa.retrieve import make_filters

    filters = make_filters(outlets, published_from, published_to)
    retriever = _retriever(_settings(index_dir))
    result = retriever.ask(question, k, filters)
    if as_json:
        _echo_json(ask_response(result).model_dump(mode="json"))
    else:
        click.echo(render(result))


@cli.command("chat")
@_k_option("Answers per question (default 5).")
@_filter_options
@_index_dir_option
def chat_command(
    k: int | None,
    outlets: tuple[str, ...],
    published_from: str | None,
    published_to: str | None,
    index_dir: Path | None,
) -> None:
    """Ask questions one after another; Ctrl-D or 'quit' ends."""
    from qa.retrieve import make_filters

    filters = make_filters(outlets, published_from, published_to)
    settings = _settings(index_dir)
    k = settings.k if k is None else k
    retriever = _retriever(settings)
    indexed = retriever.snapshot.documents.articles
    known = sorted({a.source.outlet for a in indexed.values() if a.source.outlet})
    click.echo(
        f"qa knows {len(indexed)} articles ({', '.join(known) or 'no outlets named'}). "
        "Ask a question; Ctrl-D or 'quit' ends."
    )
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            question = input("\n? " if interactive else "")
        except EOFError:
            break
        if question.strip().lower() in {"quit", "exit", ":q"}:
            break
        if not question.strip():
            continue
        if not interactive:
            click.echo(f"? {question}")
        try:
            click.echo(render(retriever.ask(question, k, filters)))
        except QAError as exc:
            click.echo(f"error: {exc}", err=True)


@cli.command("articles")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.option("--stats", is_flag=True, help="Counts, the vector index, and when to rebuild it.")
@_index_dir_option
def articles_command(as_json: bool, stats: bool, index_dir: Path | None) -> None:
    """List the indexed articles and their sources."""
    settings = _settings(index_dir)
    snapshot = _snapshot(settings)
    if stats:
        from qa.store import get_store

        figures = get_store(settings).describe(snapshot)
        if as_json:
            _echo_json(figures)
        else:
            for key, value in figures.items():
                click.echo(f"{key}: {value}")
        return
    listing = sorted(
        snapshot.documents.listing(), key=lambda s: (s[0].published or "", s[0].article_id)
    )
    rows = [article_out(source, passages) for source, passages in listing]
    if as_json:
        _echo_json([row.model_dump(mode="json") for row in rows])
        return
    for row in rows:
        click.echo(f"{row.article_id}  {_source_line(row)}  [{row.passages} passages]")


@cli.command("remove")
@click.argument("article_ids", nargs=-1, required=True)
@_index_dir_option
def remove_command(article_ids: tuple[str, ...], index_dir: Path | None) -> None:
    """Take articles (by id, as `qa articles` lists them) and their passages out of the index."""
    from qa.encoders import get_encoder
    from qa.indexing import remove
    from qa.store import get_store

    settings = _settings(index_dir)
    report = remove(get_store(settings), list(article_ids), settings, lambda: get_encoder(settings))
    click.echo(
        f"Removed {', '.join(report.removed)}; {report.articles} articles, "
        f"{report.passages} passages remain in {report.location}."
    )


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_index_dir_option
def export_command(file: Path, index_dir: Path | None) -> None:
    """Write the index's articles with their passages and vectors to FILE (JSON Lines),
    for `qa import` into another store (QA_STORE) without embedding again."""
    from qa.recovery import open_served
    from qa.store import get_store
    from qa.transfer import export

    store = get_store(_settings(index_dir))
    try:
        snapshot, warning = open_served(store)
        if warning:
            click.echo(f"warning: {_one_line(warning)}", err=True)
        partial = file.with_name(f".{file.name}.partial")
        with open(partial, "w", encoding="utf-8") as out:
            count = export(snapshot, out)
        partial.replace(file)
    finally:
        store.close()
    click.echo(f"Exported {count} articles from {store.location} to {file}.")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_index_dir_option
def import_command(file: Path, index_dir: Path | None) -> None:
    """Load FILE, written by `qa export`, into the store QA_STORE names, in place of
    what it holds; the vectors are used as they are."""
    from qa.store import get_store
    from qa.transfer import ExportFile, write

    source = ExportFile(file)
    source.check()  # every line, before the store is touched
    store = get_store(_settings(index_dir))
    try:
        manifest = write(store, source.manifest, source.articles())
    finally:
        store.close()
    click.echo(
        f"Imported {manifest.articles} articles ({manifest.passages} passages, model "
        f"{manifest.model}) into {store.location}."
    )


@cli.command("check")
@_index_dir_option
@click.option(
    "--sample",
    type=click.IntRange(0),
    default=50,
    show_default=True,
    help="Passages and sentences to embed again and compare with their stored vectors.",
)
def check_command(index_dir: Path | None, sample: int) -> None:
    """Verify the index: manifest, counts, checksums, offsets, and vectors against texts."""
    from qa.check import check
    from qa.encoders import get_encoder

    settings = _settings(index_dir)
    report = check(settings, lambda: get_encoder(settings), sample)
    for line in report.checked:
        click.echo(f"ok: {line}")
    for line in report.problems:
        click.echo(f"problem: {_one_line(line)}")
    if report.problems:
        raise QAError(
            f"the index in {report.location} has {len(report.problems)} problem(s); "
            "run `qa index` (or `qa index --add PATH`) to write a whole version again"
        )


@cli.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: $QA_HOST or 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: $QA_PORT or 8000)."
)
@click.option(
    "--watch",
    "feeds",
    multiple=True,
    metavar="FEED_URL",
    help="Watch this feed while serving (repeat for more; default: $QA_WATCH_FEEDS).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Processes answering (default: $QA_WORKERS, or 0: one per core).",
)
@_index_dir_option
def serve_command(
    host: str | None,
    port: int | None,
    feeds: tuple[str, ...],
    workers: int | None,
    index_dir: Path | None,
) -> None:
    """Serve the web page (at /) and the HTTP API (docs at /docs); with TELEGRAM_BOT_TOKEN
    set, run the bot too."""
    from qa import serving
    from qa.logs import configure_logging

    settings = _settings(index_dir)
    if feeds:
        settings = settings.model_copy(update={"watch_feeds": list(feeds)})
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    configure_logging()
    sidecars: list[Any] = []
    if settings.telegram_bot_token is not None:
        from bots.telegram_bot import run_alongside

        sidecars.append(run_alongside)
    if settings.watch_feeds:
        from qa.feeds import watching

        sidecars.append(watching)
    host = host or settings.host
    port = settings.port if port is None else port
    count = serving.worker_count(settings)
    # Before anything loads, so that a busy port fails fast.
    listening = _listen(host, port, shared=count > 1)
    _warn_threshold(settings)
    serving.serve(settings, sidecars, listening, count)


@cli.command("watch")
@click.argument("feeds", nargs=-1, metavar="FEED_URL...")
@click.option("--every", default=None, help="Time between polls: 90s, 15m, 1h (default 15m).")
@click.option("--once", is_flag=True, help="Poll once and stop (for cron).")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")
@_index_dir_option
def watch_command(
    feeds: tuple[str, ...], every: str | None, once: bool, quiet: bool, index_dir: Path | None
) -> None:
    """Poll RSS/Atom feeds (or pages) and add the articles that are new or changed.

    Without FEED_URL, the feeds of $QA_WATCH_FEEDS. What was fetched is remembered
    beside the articles (the index folder, or the PostgreSQL of QA_STORE=milvus), so an
    unchanged feed costs one request answered 304. A running `qa serve` picks up what
    is added. Ctrl-C stops.
    """
    from qa.config import parse_duration
    from qa.encoders import get_encoder
    from qa.feeds import IndexSink, Watcher
    from qa.feeds.state import open_state

    settings = _settings(index_dir)
    urls = list(feeds) or settings.watch_feeds
    if not urls:
        raise click.UsageError("give the FEED_URL of at least one feed (or set QA_WATCH_FEEDS)")
    try:
        seconds = parse_duration(every) if every is not None else settings.watch_every
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every") from None
    if seconds < 1:
        raise click.BadParameter("polls must be at least 1s apart", param_hint="--every")
    state = open_state(settings)
    sink = IndexSink(settings, lambda: get_encoder(settings))
    try:
        _watch(Watcher(urls, settings, sink, state), seconds, once=once, quiet=quiet)
    finally:
        sink.close()
        state.close()


def _watch(watcher: Watcher, seconds: float, *, once: bool, quiet: bool) -> None:
    """Poll once, or until Ctrl-C, telling what each poll did."""
    from qa.feeds import PollReport

    def show(report: PollReport) -> None:
        _warn(report.problems, False)
        if not quiet:
            for skipped in report.skipped:
                click.echo(f"note: skipped {skipped}", err=True)
            stamp = "" if once else f"[{report.at} UTC] "
            click.echo(f"{stamp}{report.summary()}")

    if once:
        report = watcher.poll()
        show(report)
        if report.failed_feeds == report.feeds:
            raise QAError("no feed could be read: see the warnings above")
        return
    if not quiet:
        click.echo(f"Watching {len(watcher.feeds)} feeds every {seconds:g} s; Ctrl-C stops.")
    try:
        watcher.run(seconds, show)
    except KeyboardInterrupt:
        watcher.stop.set()
        click.echo("Stopped watching.", err=True)


def _listen(host: str, port: int, *, shared: bool = False) -> socket.socket:
    """A socket listening on host:port, or a QAError that says what to do instead;
    ``shared``: the first of several workers' sockets (``serving.listen``)."""
    from qa.serving import listen

    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise QAError(
            f"cannot listen on {host!r}: {exc.strerror}; give --host an address of this "
            "machine, such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
        ) from None
    try:
        # Bound alone first: a port another server holds is refused even if that one
        # shares it with SO_REUSEPORT too (it would be shared with it, silently).
        sock = listen(family, address, shared=False)
        if shared:
            address = sock.getsockname()  # port 0: the port just chosen
            sock.close()
            sock = listen(family, address, shared=True)
        return sock
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise QAError(
                f"port {port} on {host} is already in use; stop what uses it or choose "
                f"another: qa serve --port {port + 1 if port < 65535 else 8000} (or set QA_PORT)"
            ) from None
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise QAError(
            f"cannot listen on {host}:{port} ({reason}); choose another --host or --port"
        ) from None


@cli.command("eval")
@click.argument("testset", required=False, type=click.Path(path_type=Path))
@click.option(
    "--k", "k", type=int, default=10, show_default=True, help="Answers judged per question."
)
@click.option("--retriever", default=None, help="dense, bm25 or hybrid (default: $QA_RETRIEVER).")
@click.option("--compare", default=None, help="Several retrievers, comma-separated, in one table.")
@click.option("--split", default="test", show_default=True, help="Which qrels of a BEIR folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write Markdown.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option(
    "--whole-documents",
    is_flag=True,
    help="Index a benchmark one passage per document, under its title, as BEIR and MTEB "
    "do (to compare with their published figures).",
)
@_filter_options
@_index_dir_option
def eval_command(
    testset: Path | None,
    k: int,
    retriever: str | None,
    compare: str | None,
    split: str,
    as_json: bool,
    report: Path | None,
    quiet: bool,
    whole_documents: bool,
    outlets: tuple[str, ...],
    published_from: str | None,
    published_to: str | None,
    index_dir: Path | None,
) -> None:
    """Measure retrieval on TESTSET (default: seeds/questions.jsonl).

    TESTSET is qa's JSONL test set, a BEIR folder (corpus.jsonl, queries.jsonl,
    qrels/test.tsv) or a SQuAD JSON file; for the last two a cached index of their
    corpus is built first.
    """
    from qa.encoders import get_encoder, get_query_encoder
    from qa.evaluation import default_testset, evaluate, read
    from qa.evaluation.report import as_json as to_json
    from qa.evaluation.report import markdown, text
    from qa.retrieve import make_filters

    settings = _settings(index_dir)
    filters = make_filters(outlets, published_from, published_to)
    if retriever and compare:
        raise click.UsageError("give --retriever or --compare, not both")
    names = (
        [n.strip() for n in compare.split(",") if n.strip()]
        if compare
        else [retriever or settings.retriever]
    )
    evalset = read(testset or default_testset(settings), split=split)
    result = evaluate(
        evalset,
        settings,
        lambda: get_encoder(settings),
        retrievers=names,
        k=k,
        filters=filters,
        whole_documents=whole_documents,
        progress=not quiet,
        query_encoder=get_query_encoder,
    )
    if report is not None:
        report.write_text(markdown(result), encoding="utf-8")
        click.echo(f"Report written to {report}", err=True)
    click.echo(json.dumps(to_json(result), indent=2) if as_json else text(result))


@cli.command("feedback")
@click.option("--json", "as_json", is_flag=True, help="Print the votes as JSON.")
@click.option(
    "--testset", is_flag=True, help="Print the 👍 votes as a test set (JSONL) for `qa eval`."
)
def feedback_command(as_json: bool, testset: bool) -> None:
    """The 👍/👎 votes from the web page and the bot ($QA_TELEGRAM_DB, or the PostgreSQL
    of QA_STORE=milvus)."""
    from qa.feedback import as_testset, open_votes

    settings = get_settings()
    path: Path | str = settings.telegram_db
    if as_json and testset:
        raise click.UsageError("give --json or --testset, not both")
    if settings.store == "milvus":
        path = "the store's PostgreSQL"
        votes = open_votes(settings).votes()
    else:
        votes = open_votes(settings).votes() if settings.telegram_db.exists() else []
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in votes], ensure_ascii=False, indent=2))
        return
    if testset:
        for record in as_testset(votes):
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if not votes:
        click.echo(f"No votes yet in {path}.")
    for v in votes:
        face = "👍" if v.vote > 0 else "👎"
        click.echo(
            f"{v.voted_at}  {face} {v.channel:<8}  {v.question}  ->  "
            f"{v.article_id}[{v.start}:{v.end}]"
        )


@cli.command("bot")
@_index_dir_option
def bot_command(index_dir: Path | None) -> None:
    """Run the Telegram bot (long polling) until Ctrl-C; needs TELEGRAM_BOT_TOKEN.

    Create the bot with @BotFather in Telegram; see README.md, "Telegram bot".
    """
    from bots.telegram_bot import run

    settings = _settings(index_dir)
    _warn_threshold(settings)
    run(settings)


def render(result: Result) -> str:
    """Readable answers: each quote, then "— Title, Outlet, date, url"."""
    if result.abstained:
        return (
            "No answer: nothing in the indexed articles matches this question well enough. "
            "See what they cover with `qa articles`."
        )
    blocks = []
    for n, answer in enumerate(result.answers, start=1):
        blocks.append(f"{n}. {answer.quote}\n   — {_source_line(answer.source)}")
    return "\n\n".join(blocks)


def _source_line(source: Source | SourceOut) -> str:
    parts = [source.title, source.outlet, source.published, source.url]
    return ", ".join(p for p in parts if p) or source.article_id


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _snapshot(settings: Settings) -> Snapshot:
    """The store's current state, refused when another encoder built it."""
    from qa.recovery import open_served
    from qa.store import check_encoder, get_store

    store = get_store(settings)
    snapshot, warning = open_served(store)
    if warning:
        click.echo(f"warning: {_one_line(warning)}", err=True)
    check_encoder(snapshot.manifest, store.location, settings.encoder, settings.model)
    return snapshot


def _retriever(settings: Settings) -> Retriever:
    from qa.encoders import get_query_encoder
    from qa.retrieve import Retriever

    snapshot = _snapshot(settings)
    _warn_threshold(settings)
    return Retriever(snapshot, get_query_encoder(settings), settings)


def _warn_threshold(settings: Settings) -> None:
    if warning := threshold_warning(settings):
        click.echo(f"warning: {warning}", err=True)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn every failure into one line on stderr and an exit code."""
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="qa", standalone_mode=False
        )
    except click.Abort:
        click.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)
        return EXIT_USAGE
    except QAError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if get_settings().debug:
            raise
        click.echo(
            f"error: unexpected {type(exc).__name__}: {_one_line(str(exc))} "
            "(set QA_DEBUG=1 to see the traceback)",
            err=True,
        )
        return EXIT_ERROR
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
