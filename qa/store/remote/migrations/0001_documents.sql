-- The articles, their passages and sentences with offsets, and the versions of the
-- store. An article's rows are 'pending' while its vectors go into Milvus, 'live'
-- once a version includes them, 'retired' once replaced or removed (until its vectors
-- are deleted too). Readers see only 'live' rows.
CREATE TABLE qa_versions (
    id BIGSERIAL PRIMARY KEY,
    manifest JSONB NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE qa_articles (
    uid BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL,
    title TEXT,
    outlet TEXT,
    author TEXT,
    published TEXT,
    url TEXT,
    origin TEXT,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'live', 'retired'))
);
CREATE UNIQUE INDEX qa_articles_live_id ON qa_articles (id) WHERE state = 'live';
CREATE INDEX qa_articles_not_live ON qa_articles (state) WHERE state <> 'live';
CREATE TABLE qa_passages (
    id BIGINT PRIMARY KEY,
    article_uid BIGINT NOT NULL REFERENCES qa_articles (uid) ON DELETE CASCADE,
    first_sentence BIGINT NOT NULL,
    last_sentence BIGINT NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL
);
CREATE INDEX qa_passages_by_article ON qa_passages (article_uid);
CREATE TABLE qa_sentences (
    id BIGINT PRIMARY KEY,
    article_uid BIGINT NOT NULL REFERENCES qa_articles (uid) ON DELETE CASCADE,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL
);
CREATE INDEX qa_sentences_by_article ON qa_sentences (article_uid);
