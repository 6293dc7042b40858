"""All settings in one place, read from ``QA_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import QAError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Runtime settings; the CLI overrides some with ``model_copy(update=...)``."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", frozen=True)

    index_dir: Path = Field(Path("index"), description="Where the index is stored.")
    seeds_dir: Path = Field(Path("seeds"), description="What `qa index` reads by default.")
    cache_dir: Path = Field(Path(".cache"), description="Indexes `qa eval` builds of benchmarks.")
    model: str = Field(
        DEFAULT_MODEL,
        description="A sentence-transformers model name or path; the default is bundled.",
    )
    device: str = Field("cpu", description="Torch device for the model.")
    batch_size: int = Field(32, ge=1, le=1024, description="Texts per model call when indexing.")

    retriever: Literal["dense", "bm25", "hybrid"] = Field(
        "dense", description="How passages are found: by meaning, by words, or both."
    )
    k: int = Field(5, ge=1, le=50, description="Answers returned by default.")
    max_k: int = Field(50, ge=1, description="The most answers one question may ask for.")
    max_question_chars: int = Field(2000, ge=1)
    # Chosen on the seeds (seeds/questions.jsonl and 20 more off-topic questions):
    # answerable questions score 0.51 and up, off-topic ones ("What is the capital of
    # Australia?") 0.27 at most; 0.35 sits in that gap.
    min_score: float = Field(0.35, ge=-1.0, le=1.0, description="Below this, qa abstains.")

    passage_sentences: int = Field(
        3, ge=1, le=100_000, description="Sentences per passage at most."
    )
    passage_max_chars: int = Field(1000, ge=50, description="Characters per passage, soft cap.")
    passage_title: bool = Field(
        False, description="Index each passage together with its article's title."
    )
    quote_max_sentences: int = Field(3, ge=1, le=10)
    # A neighbouring sentence joins the quote when it scores within this of the best one.
    quote_margin: float = Field(0.08, ge=0.0, le=1.0)

    # The HTTP API (`qa serve`).
    host: str = Field("127.0.0.1", description="Where `qa serve` listens.")
    port: int = Field(8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(
        None, description="Bearer token that POST and DELETE /articles require."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins browsers may call the API from."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest article upload.")
    # Questions arriving within this window share one model call.
    batch_window_ms: float = Field(5.0, ge=0.0, le=1000.0)
    max_batch: int = Field(64, ge=1, le=1024, description="Questions per model call at most.")

    lock_timeout: float = Field(60.0, ge=0.0, description="Seconds to wait for another writer.")
    debug: bool = Field(False, description="Show tracebacks instead of one-line errors.")


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
