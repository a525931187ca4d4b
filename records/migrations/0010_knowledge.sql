-- The knowledge base (知识库, tickets/knowledge.py, records/knowledge.py): articles with their search
-- terms as tsvectors built in Python (jieba words, pinyin pairs; no text-search parser involved, so
-- the 'simple' lexemes are exactly the terms), the articles used to answer calls, and the searches
-- (those that found nothing show what the knowledge base lacks).
CREATE TABLE kb_articles (
    id            bigserial PRIMARY KEY,
    question      text NOT NULL,
    answer        text NOT NULL,
    category      text,
    department    text,
    valid_from    date,
    valid_until   date,
    source        text,                             -- the source document (文件名、文号)
    keywords      text[] NOT NULL DEFAULT '{}',
    words         tsvector NOT NULL,                -- question + keywords weight A, answer B
    sounds        tsvector NOT NULL,                -- accent-tolerant pinyin pairs of question + keywords
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text,
    CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from)
);
CREATE INDEX kb_articles_words ON kb_articles USING gin (words);
CREATE INDEX kb_articles_sounds ON kb_articles USING gin (sounds);

CREATE TABLE kb_uses (                              -- a call answered on the call (直接办结) from an article
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    day           date NOT NULL,
    call_id       text NOT NULL,
    ticket_id     text NOT NULL UNIQUE,
    article_id    bigint REFERENCES kb_articles (id) ON DELETE SET NULL,
    question      text NOT NULL,                    -- the article's question then (it may change later)
    operator      text
);
CREATE INDEX kb_uses_day ON kb_uses (day);

CREATE TABLE kb_searches (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    day           date NOT NULL,
    call_id       text,
    source        text NOT NULL,                    -- live (a transcript turn) | manual (the operator typed)
    query         text NOT NULL,
    hits          integer NOT NULL,
    top_article   bigint
);
CREATE INDEX kb_searches_day ON kb_searches (day, hits);
