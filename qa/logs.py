"""Logging for the long-running commands (`qa serve`, `qa bot`), configured in one place."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"  # pid: which worker
# httpx and httpcore log request urls, which carry the Telegram bot token; bm25s logs
# progress of its own at INFO.
QUIET = ("httpx", "httpcore", "bm25s")


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines on stderr, with the chatty libraries at WARNING."""
    logging.basicConfig(level=level, format=FORMAT)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
