"""All settings in one place, read from ``QA_*`` environment variables."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import metadata
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qa.errors import QAError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
try:
    _VERSION = metadata.version("qa")
except metadata.PackageNotFoundError:  # run from a source tree that is not installed
    _VERSION = "0"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Settings(BaseSettings):
    """Runtime settings; the CLI overrides some with ``model_copy(update=...)``."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", frozen=True)

    index_dir: Path = Field(Path("index"), description="Where the index is stored.")
    seeds_dir: Path = Field(Path("seeds"), description="What `qa index` reads by default.")
    cache_dir: Path = Field(
        Path(".cache"), description="ONNX exports, and the indexes `qa eval` builds of benchmarks."
    )
    model: str = Field(
        DEFAULT_MODEL,
        description="A sentence-transformers model name or path; the default is bundled.",
    )
    # onnx, not onnx-int8: int8 lost 0.010 MRR@10 on the seeds (hybrid) on this AVX2
    # machine, over the 0.005 allowed, and ran no faster than fp32 here (README "Encoders").
    encoder: str = Field(
        "onnx",
        description="What computes the vectors: onnx (fp32), onnx-int8, torch, or hashing "
        "(no model; tests).",
    )
    # auto: int8 questions against fp32 passages where that is both faster and as good:
    # hybrid retrieval on AVX-512 VNNI (README "Encoders"); else QA_ENCODER's own.
    query_encoder: str = Field(
        "auto",
        description="What embeds the questions: auto, or one of QA_ENCODER's choices that "
        "computes the same vectors.",
    )
    device: str = Field("cpu", description="Torch device for the model.")
    encoder_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="Threads of one model call; 0: every core (`qa serve` gives each "
        "of several workers its share).",
    )
    store: str = Field(
        "local", description="Where the index lives: local (index_dir), or milvus (+ PostgreSQL)."
    )
    # QA_STORE=milvus: vectors and BM25 in Milvus, articles in PostgreSQL (docs/scaling.md).
    milvus_uri: str = Field("http://127.0.0.1:19530", description="The Milvus server.")
    milvus_token: SecretStr | None = Field(None, description="Milvus user:password or API key.")
    milvus_collection_prefix: str = Field(
        "qa", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$", description="Names of qa's collections."
    )
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL of the articles, e.g. postgresql://qa:secret@db/qa."
    )
    store_timeout: float = Field(
        5.0, gt=0.0, le=300.0, description="Seconds one call to Milvus or PostgreSQL may take."
    )
    batch_size: int = Field(32, ge=1, le=1024, description="Texts per model call when indexing.")
    # Past this many passages the passage vectors are searched approximately (IVF).
    # Exact search grows with the index (2.5 ms at 10,000 passages in one run), IVF's
    # hardly (1.7 ms at 100,000, recall@10 0.97; README "Scale"): they meet near here.
    exact_max: int = Field(50_000, ge=0, description="Passages searched exactly at most.")
    ivf_nprobe: int = Field(64, ge=1, description="IVF cells one search visits.")
    # "pooled": from the passage pass (one pass, a third of the model's work when
    # indexing); "separate": a second pass over every sentence. Pooled lost 0.023
    # MRR@10 on the seeds (hybrid), so separate stays the default (README "Encoders").
    sentence_vectors: Literal["pooled", "separate"] = Field(
        "separate", description="How sentence vectors are made when indexing."
    )
    # Sentence vectors are only looked up (a candidate's sentences), never searched, and
    # are most of an index's bytes (about four a passage): fp16 halves them with no
    # measured change in quality (README "Scale").
    sentence_codes: Literal["float32", "fp16", "int8"] = Field(
        "fp16", description="How the local store keeps sentence vectors, from the next rebuild."
    )

    retriever: Literal["dense", "bm25", "hybrid"] = Field(
        "hybrid", description="How passages are found: by meaning, by words, or both."
    )
    # How hybrid weighs meaning against words, and a passage's best sentence within
    # meaning; see qa/fusion.py for how they were chosen.
    reranker: Path | None = Field(
        None, description="A local CrossEncoder folder that re-scores the first candidates."
    )
    rerank_depth: int = Field(30, ge=1, le=1000, description="Candidates the re-ranker scores.")
    hybrid_dense_weight: float = Field(0.65, ge=0.0, le=1.0)
    hybrid_sentence_weight: float = Field(0.4, ge=0.0, le=1.0)
    # BM25 in the fusion weighs words by the question's nearest passages by meaning,
    # this many, so a topic's ranking holds as unrelated articles join (README "As the
    # corpus grows"); 0 uses the whole index's BM25 statistics, as before.
    fusion_neighbourhood: int = Field(100, ge=0, le=1000)
    # From this many passages hybrid search runs BM25 in a thread beside the vector
    # search (both let go of the GIL): at a million each takes ~4 ms; below, the
    # hand-over would cost more than it saves.
    beside_from: int = Field(20_000, ge=0, description="Passages from which BM25 runs beside.")
    k: int = Field(5, ge=1, le=50, description="Answers returned by default.")
    max_k: int = Field(50, ge=1, description="The most answers one question may ask for.")
    max_question_chars: int = Field(2000, ge=1)
    # The lowest cosine of question and passage that is an answer. Chosen on the seeds
    # and checked on 40 off-topic questions written afterwards (seeds/questions.jsonl
    # o14-o53): all 53 off-topic questions' best passages score 0.30 at most, all but
    # one answerable question's 0.43 or more; `qa eval` shows where it falls.
    min_score: float = Field(0.35, ge=-1.0, le=1.0, description="Below this, qa abstains.")

    passage_sentences: int = Field(
        3, ge=1, le=100_000, description="Sentences per passage at most."
    )
    passage_max_chars: int = Field(1000, ge=50, description="Characters per passage, soft cap.")
    passage_title: bool = Field(
        False, description="Index each passage together with its article's title."
    )
    quote_max_sentences: int = Field(3, ge=1, le=10)
    # A neighbouring sentence joins the quote when it scores within this of the best one
    # (fused sentence scores, in standard deviations; see qa.sentence_scores). Chosen on
    # the seed test set: the smallest margin at which every right passage among the
    # first ten answers quotes its answer (0.9 missed one; 1.5 and more only lengthen).
    quote_margin: float = Field(1.4, ge=0.0, le=10.0)
    # Quotes of two articles this similar (cosine) say the same thing: the lower one is
    # folded into the higher as "also reported by". Chosen on the seeds: pairs at 0.77
    # and above report one fact ("Moscow ready to send a delegation to Minsk" in Foreign
    # Policy and The Moscow Times); below, related but different ones.
    corroborate_min: float = Field(0.77, ge=0.0, le=1.01)
    # Answers of one article beyond this many wait behind every other article's, so the
    # first answers show what several outlets say; with no other article left they
    # still come. On the seeds, 3 costs nothing (2 pushes one right answer out of the
    # top five) and leaves one question, not 16, with four of its five answers from one
    # article.
    max_per_article: int = Field(3, ge=1, le=50)

    # The HTTP API (`qa serve`).
    host: str = Field("127.0.0.1", description="Where `qa serve` listens.")
    port: int = Field(8000, ge=0, le=65535)
    # Processes answering: each has its own GIL, so questions spread over the cores
    # (one process left 0.7 of the second core idle under 16 clients). 0: one per core.
    workers: int = Field(0, ge=0, le=64, description="`qa serve` processes; 0: one per core.")
    api_key: SecretStr | None = Field(
        None, description="Bearer token that POST and DELETE /articles require."
    )
    # NoDecode: a plain "https://a.example,https://b.example" is accepted besides JSON.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins browsers may call the API from."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        return _comma_list(value)

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest article upload.")
    # Questions that queue while the model is busy share its next call; a window > 0
    # also holds each call back that long to gather more (latency for throughput).
    batch_window_ms: float = Field(0.0, ge=0.0, le=1000.0)
    max_batch: int = Field(64, ge=1, le=1024, description="Questions per model call at most.")
    # Overload: questions beyond max_pending waiting for the model get 503 at once (a
    # queue that only grows answers nobody in time); every request gets request_timeout
    # seconds; rate_limit questions per rate_window seconds per client address (0: off).
    max_pending: int = Field(256, ge=1, description="Questions waiting at most; then 503.")
    request_timeout: float = Field(30.0, gt=0.0, description="Seconds a request may take.")
    rate_limit: int = Field(0, ge=0, description="Questions per client per rate_window; 0: off.")
    rate_window: float = Field(60.0, gt=0.0, description="Seconds; see rate_limit.")

    # Pages and feeds from the web (`qa index --add URL`, `qa watch`, POST /articles url).
    fetch_timeout: float = Field(
        15.0, gt=0.0, le=600.0, description="Seconds one request may take, body included."
    )
    # NoDecode: a plain "127.0.0.0/8,10.0.0.0/8" is accepted besides JSON.
    fetch_allow_networks: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Non-public networks the server may fetch from anyway (CIDR, comma-separated).",
    )
    user_agent: str = Field(
        f"qa/{_VERSION} (news question answering; fetches the articles it quotes)",
        min_length=1,
        description="The User-Agent of every request; robots.txt is read for its first word.",
    )
    fetch_retries: int = Field(
        2, ge=0, le=10, description="Tries again after a 429, a 5xx or a dropped connection."
    )
    fetch_backoff: float = Field(
        1.0, ge=0.0, le=60.0, description="Seconds before the first retry; doubles each time."
    )
    fetch_max_retry_after: float = Field(
        120.0, ge=0.0, description="The longest Retry-After waited for; a longer one gives up."
    )
    # At least a second between two requests to one host, as polite crawlers keep; a
    # robots.txt Crawl-delay that asks for more wins. Lower it only for your own servers.
    fetch_host_interval: float = Field(1.0, ge=0.0, le=3600.0)
    feed_max_entries: int = Field(
        100, ge=1, le=10_000, description="Entries of one feed read at most (the newest first)."
    )
    watch_feeds: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Feeds `qa serve` watches (comma-separated or JSON)."
    )
    watch_every: float = Field(
        900.0, ge=1.0, description="Seconds between two polls of the feeds (or 30s, 15m, 1h)."
    )

    @field_validator("fetch_allow_networks", "watch_feeds", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("watch_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    # The Telegram bot (`qa bot`, or `qa serve` when a token is set).
    telegram_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "QA_TELEGRAM_BOT_TOKEN"),
        description="The bot's token from @BotFather; TELEGRAM_BOT_TOKEN.",
    )
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot",
        description="Bot API server; the token is appended, or replaces {token}.",
    )
    # NoDecode: a plain "123,-456" is accepted besides a JSON list.
    telegram_allowed_chats: Annotated[tuple[int, ...], NoDecode] = Field(
        (), description="Chat ids the bot answers in; empty means every chat."
    )
    telegram_db: Path = Field(
        Path("telegram.sqlite3"), description="SQLite file of the bot's questions and feedback."
    )
    telegram_rate_limit: int = Field(
        10, ge=1, description="Questions one chat may ask per telegram_rate_window."
    )
    telegram_rate_window: float = Field(60.0, gt=0.0, description="Seconds; see rate_limit.")
    telegram_examples: tuple[str, ...] = Field(
        (
            "How many Russian troops are in Belarus?",
            "Where did Russian and Ukrainian delegations meet for the second round?",
        ),
        description="Example questions /start and /help show (a JSON list).",
    )

    @field_validator("telegram_allowed_chats", mode="before")
    @classmethod
    def _chat_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().strip("[]").replace(",", " ").split()
        if isinstance(value, int):
            return [value]
        return value

    lock_timeout: float = Field(60.0, ge=0.0, description="Seconds to wait for another writer.")
    debug: bool = Field(False, description="Show tracebacks instead of one-line errors.")


def _comma_list(value: Any) -> Any:
    """ "a,b" or '["a", "b"]' from the environment as a list; other values unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_duration(text: str) -> float:
    """Seconds from "90", "30s", "15m", "1h" or "1h30m"; ValueError says how to write it."""
    value = text.strip().lower().replace(" ", "")
    try:
        return float(value)
    except ValueError:
        pass
    if value and _DURATION.sub("", value) == "":
        return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(value))
    raise ValueError(f"{text!r} is not a duration; write it as seconds or like 30s, 15m, 1h")


def threshold_warning(settings: Settings) -> str | None:
    """Why answers may be wrongly given or withheld: a threshold chosen for another model.

    Cosines differ from model to model, so QA_MIN_SCORE's default, chosen for the
    bundled model, may let everything through or nothing with another.
    """
    if settings.model == DEFAULT_MODEL or "min_score" in settings.model_fields_set:
        return None
    return (
        f"QA_MIN_SCORE {settings.min_score:g} was chosen for {DEFAULT_MODEL}, not "
        f"{settings.model}; run `qa eval` on a test set with off-topic questions and set "
        "QA_MIN_SCORE to the threshold it suggests"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"QA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise QAError(f"invalid setting ({problems}); fix or unset the variable") from exc
