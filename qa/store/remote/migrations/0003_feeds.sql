-- What the feed watcher remembers between polls (qa.feeds.state keeps it in SQLite
-- beside a local index): every watcher and server of the store shares it.
CREATE TABLE qa_feeds_fetched (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    stamp TEXT,
    article_ids TEXT[] NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE qa_feeds_robots (
    origin TEXT PRIMARY KEY,
    body TEXT,
    fetched_at DOUBLE PRECISION NOT NULL
);
