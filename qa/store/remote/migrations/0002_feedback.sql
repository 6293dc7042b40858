-- The bot's questions (for its buttons), which answers were shown under which numbers,
-- and the votes of every channel: what qa.feedback keeps in SQLite with the local store.
CREATE TABLE qa_questions (
    id TEXT PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    user_id BIGINT,
    question TEXT NOT NULL,
    asked_at TEXT NOT NULL
);
CREATE TABLE qa_shown (
    question_id TEXT NOT NULL REFERENCES qa_questions (id),
    rank INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    quote_start INTEGER NOT NULL,
    quote_end INTEGER NOT NULL,
    quote TEXT NOT NULL,
    PRIMARY KEY (question_id, rank)
);
CREATE TABLE qa_feedback (
    id BIGSERIAL UNIQUE,
    question_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    user_id BIGINT NOT NULL,
    chat_id BIGINT NOT NULL,
    question TEXT NOT NULL,
    article_id TEXT NOT NULL,
    quote_start INTEGER NOT NULL,
    quote_end INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    channel TEXT NOT NULL,
    quote TEXT,
    PRIMARY KEY (question_id, rank, user_id)
);
