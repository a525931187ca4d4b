"""The knowledge base's SQL (migration 0010_knowledge): articles and their search terms, the search,
the articles used to answer calls, the searches kept for the report, the report's figures.

    kb = KnowledgeStore(pool)
    art = await kb.save({"question": ..., "answer": ...}, who="admin")
    found = await kb.search("社宝卡丢了怎么补办", today=date.today())     # ranked, highlighted, current only
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from tickets.knowledge import Terms, check_article, index_terms, query_terms, rank, selective, tsquery

_COLS = "id, question, answer, category, department, valid_from, valid_until, source, keywords, updated_at, updated_by"
CANDIDATES = 20          # rows the database ranks before tickets.knowledge.rank picks the top ones
MIN_FOUND = 3            # fewer found by the selective terms: searched again with all of them
FREQ_TTL_S = 300.0       # how long the terms' article counts (which terms are selective) are kept

_SEARCH = f"""
SELECT * FROM (SELECT {_COLS},
       CASE WHEN $1::tsquery IS NULL THEN 0 ELSE ts_rank('{{0.05, 0.1, 0.4, 1.0}}', words, $1::tsquery) END AS word_rank,
       CASE WHEN $2::tsquery IS NULL THEN 0 ELSE ts_rank(sounds, $2::tsquery) END AS sound_rank,
       CASE WHEN $5::tsquery IS NULL THEN 0 ELSE ts_rank('{{0.05, 0.1, 0.4, 1.0}}', words, $5::tsquery) END
       + CASE WHEN $6::tsquery IS NULL THEN 0 ELSE 0.6 * ts_rank(sounds, $6::tsquery) END AS recent_rank
FROM kb_articles
WHERE (words @@ $7::tsquery OR sounds @@ $8::tsquery)
  AND (valid_from IS NULL OR valid_from <= $3) AND (valid_until IS NULL OR valid_until >= $3)) AS ranked
ORDER BY ranked.word_rank + 0.6 * ranked.sound_rank + 2 * ranked.recent_rank DESC, ranked.id
LIMIT $4"""

_TERMS = ("setweight(array_to_tsvector($9::text[]), 'A') || setweight(array_to_tsvector($10::text[]), 'B')",
          "array_to_tsvector($11::text[])")


def _article(r: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(r)
    out["keywords"] = list(out.get("keywords") or [])
    for name in ("valid_from", "valid_until"):
        if isinstance(out.get(name), date):
            out[name] = out[name].isoformat()
    if out.get("updated_at") is not None:
        out["updated_at"] = out["updated_at"].isoformat()
    return out


class KnowledgeStore:
    def __init__(self, pool: Any, clock: Any = time.monotonic) -> None:
        self.pool = pool
        self.clock = clock
        self._freq: tuple[float, int, dict[str, int]] | None = None     # (read at, articles, term -> articles)

    def changed(self) -> None:
        self._freq = None

    async def _frequencies(self, conn: Any) -> tuple[int, dict[str, int]]:
        """How many articles hold each term (ts_stat over both vectors), kept FREQ_TTL_S or until a change."""
        if self._freq is None or self.clock() - self._freq[0] > FREQ_TTL_S:
            n = await conn.fetchval("SELECT count(*) FROM kb_articles")
            rows = await conn.fetch("SELECT word, ndoc FROM ts_stat('SELECT words FROM kb_articles') UNION ALL "
                                    "SELECT word, ndoc FROM ts_stat('SELECT sounds FROM kb_articles')")
            freq: dict[str, int] = {}
            for r in rows:
                freq[r["word"]] = freq.get(r["word"], 0) + int(r["ndoc"])
            self._freq = (self.clock(), int(n), freq)
        return self._freq[1], self._freq[2]

    # -- articles
    async def articles(self, q: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        async with self.pool.acquire(timeout=5) as conn:
            q = q.replace("\x00", "")
            if q:
                like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                rows = await conn.fetch(f"SELECT {_COLS} FROM kb_articles WHERE question ILIKE $1 OR answer ILIKE $1 "
                                        "OR array_to_string(keywords, ' ') ILIKE $1 ORDER BY id LIMIT $2", like, limit)
            else:
                rows = await conn.fetch(f"SELECT {_COLS} FROM kb_articles ORDER BY id LIMIT $1", limit)
        return [_article(r) for r in rows]

    async def get(self, article_id: int) -> dict[str, Any] | None:
        async with self.pool.acquire(timeout=5) as conn:
            r = await conn.fetchrow(f"SELECT {_COLS} FROM kb_articles WHERE id = $1", article_id)
        return _article(r) if r is not None else None

    async def save(self, doc: Mapping[str, Any], who: str, article_id: int | None = None,
                   conn: Any = None) -> dict[str, Any]:
        """Insert (no id) or update an article, its terms indexed again; None-safe fields checked."""
        a = check_article(doc)
        t = index_terms(a)
        args = (a["question"], a["answer"], a["category"], a["department"], a["valid_from"], a["valid_until"],
                a["source"], a["keywords"], t["head"], t["body"], t["sounds"], who)
        self.changed()
        if conn is None:
            async with self.pool.acquire(timeout=5) as c:
                return await self._save(c, args, article_id)
        return await self._save(conn, args, article_id)

    async def _save(self, conn: Any, args: tuple[Any, ...], article_id: int | None) -> dict[str, Any]:
        if article_id is None:
            r = await conn.fetchrow(
                "INSERT INTO kb_articles (question, answer, category, department, valid_from, valid_until, source, "
                f"keywords, words, sounds, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {_TERMS[0]}, "
                f"{_TERMS[1]}, $12) RETURNING {_COLS}", *args)
        else:
            r = await conn.fetchrow(
                "UPDATE kb_articles SET question = $1, answer = $2, category = $3, department = $4, valid_from = $5, "
                f"valid_until = $6, source = $7, keywords = $8, words = {_TERMS[0]}, sounds = {_TERMS[1]}, "
                f"updated_by = $12, updated_at = now() WHERE id = $13 RETURNING {_COLS}", *args, article_id)
        return _article(r) if r is not None else {}

    async def delete(self, article_id: int) -> bool:
        self.changed()
        async with self.pool.acquire(timeout=5) as conn:
            return (await conn.execute("DELETE FROM kb_articles WHERE id = $1", article_id)) == "DELETE 1"

    async def import_many(self, articles: Iterable[Mapping[str, Any]], who: str) -> dict[str, int]:
        """All or nothing: rows with an id update that article (it must exist), others are added."""
        added = updated = 0
        async with self.pool.acquire(timeout=10) as conn, conn.transaction():
            for a in articles:
                fields = {k: v for k, v in a.items() if k != "id"}
                if a.get("id") is not None:
                    if not await self.save(fields, who, int(a["id"]), conn=conn):
                        from tickets.knowledge import KnowledgeError

                        raise KnowledgeError([{"field": "id", "message": f"no article {a['id']}"}])
                    updated += 1
                else:
                    await self.save(fields, who, conn=conn)
                    added += 1
        return {"added": added, "updated": updated}

    # -- search
    async def candidates(self, terms: Terms, today: date, limit: int = CANDIDATES) -> list[dict[str, Any]]:
        words, sounds = tsquery(terms.words), tsquery(terms.sounds)
        if words is None and sounds is None:
            return []
        async with self.pool.acquire(timeout=5) as conn:
            n, freq = await self._frequencies(conn)
            pick_words, pick_sounds = tsquery(selective(terms.words, freq, n)), tsquery(selective(terms.sounds, freq, n))
            args = (words, sounds, today, limit, tsquery(terms.recent_words), tsquery(terms.recent_sounds))
            rows = await conn.fetch(_SEARCH, *args, pick_words, pick_sounds)
            if len(rows) < MIN_FOUND and (pick_words, pick_sounds) != (words, sounds):
                rows = await conn.fetch(_SEARCH, *args, words, sounds)      # few found: every term filters
        return [dict(r) for r in rows]

    async def search(self, text: str, today: date, top: int = 3) -> tuple[Terms, list[dict[str, Any]]]:
        terms = query_terms(text)
        found = rank(await self.candidates(terms, today), terms, today, top)
        return terms, [_article(r) for r in found]

    async def log_search(self, day: date, source: str, query: str, hits: int, call_id: str | None = None,
                         top_article: int | None = None) -> None:
        async with self.pool.acquire(timeout=5) as conn:
            await conn.execute("INSERT INTO kb_searches (day, call_id, source, query, hits, top_article) "
                               "VALUES ($1, $2, $3, $4, $5, $6)", day, call_id, source, query.replace("\x00", "")[:500], hits, top_article)

    async def record_use(self, day: date, call_id: str, ticket_id: str, article: Mapping[str, Any],
                         operator: str) -> None:
        async with self.pool.acquire(timeout=5) as conn:
            await conn.execute("INSERT INTO kb_uses (day, call_id, ticket_id, article_id, question, operator) "
                               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING",
                               day, call_id, ticket_id, article["id"], article["question"], operator)

    # -- the report
    async def report(self, first: date, last: date, top: int = 10) -> dict[str, Any]:
        """Answered on the call (share of the answered calls), the articles most used, the searches that
        found nothing (most frequent first)."""
        async with self.pool.acquire(timeout=5) as conn:
            answered = await conn.fetchval("SELECT count(*) FROM call_records WHERE day BETWEEN $1 AND $2 "
                                           "AND answered_at IS NOT NULL", first, last)
            on_call = await conn.fetchval("SELECT count(DISTINCT call_id) FROM kb_uses WHERE day BETWEEN $1 AND $2",
                                          first, last)
            used = await conn.fetch(
                "SELECT article_id, (array_agg(question ORDER BY at DESC))[1] AS question, count(*) AS uses "
                "FROM kb_uses WHERE day BETWEEN $1 AND $2 GROUP BY article_id ORDER BY uses DESC, article_id "
                "LIMIT $3", first, last, top)
            missing = await conn.fetch(
                "SELECT query, count(*) AS times, max(at) AS last_at FROM kb_searches "
                "WHERE day BETWEEN $1 AND $2 AND hits = 0 GROUP BY query ORDER BY times DESC, last_at DESC "
                "LIMIT $3", first, last, top)
            searches = await conn.fetchval("SELECT count(*) FROM kb_searches WHERE day BETWEEN $1 AND $2",
                                           first, last)
        answered = max(int(answered), int(on_call))       # a call without a call record still counts
        return {
            "from": first.isoformat(), "to": last.isoformat(), "answered_calls": answered,
            "answered_on_call": int(on_call),
            "share": round(int(on_call) / answered, 4) if answered else None,
            "articles": [{"id": r["article_id"], "question": r["question"], "uses": int(r["uses"])} for r in used],
            "searches": int(searches),
            "not_found": [{"query": r["query"], "times": int(r["times"]), "last_at": r["last_at"].isoformat()}
                          for r in missing],
        }
