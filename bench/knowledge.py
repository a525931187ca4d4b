"""`hotline bench knowledge`: the console's knowledge search per transcript update, on a private
PostgreSQL of its own, against a plain ILIKE scan of the same words in the same run.

- articles: `articles` generated ones (topic x aspect x district, each with its department and a
  validity: a tenth of them expired, never to be found);
- calls: growing transcripts, one caller turn added per update (what the console asks after each
  final); a third of the turns carry a recogniser's homophones (社宝 for 社保, 公积经 for 公积金 ...);
- knowledge_search: what POST /api/knowledge/suggest does (tickets.knowledge.query_terms: jieba and
  pinyin pairs; records.knowledge: GIN tsvector search; rank and highlight) per update;
- baseline_ilike: the same jieba words looked for with `ILIKE ANY` in question and answer (a plain
  scan, no pinyin, no rank: the first 3 by id), current articles only;
- baseline_ilike_ranked: the same scan ranked by how many of the words each question and answer holds
  (the same job as the search - a ranked top 3 - without the index or the pinyin);
- quality: top-1 right topic and aspect for both, on the clean and on the homophone turns.
"""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from devstack.pg_server import APP_ROLE, CDR_ROLE, PostgresServer

TOPICS = [("社保卡", "市人社局"), ("公积金", "市住房公积金中心"), ("医保", "市医保局"), ("居住证", "市公安局"),
          ("户口迁移", "市公安局"), ("营业执照", "市市场监管局"), ("燃气开户", "新奥燃气"), ("路灯", "市城管局"),
          ("停车收费", "市城管局"), ("养老保险", "市人社局"), ("失业金", "市人社局"), ("不动产登记", "市自然资源局"),
          ("驾驶证换证", "市公安局交警支队"), ("新生儿落户", "市公安局"), ("契税", "市税务局"), ("廉租房", "市住建局"),
          ("垃圾清运", "市城管局"), ("自来水报装", "株洲水务"), ("学位申请", "市教育局"), ("残疾证", "市残联")]
ASPECTS = [("需要什么材料", "需携带本人身份证原件及复印件、申请表"), ("在哪里办理", "可到区政务服务中心窗口或网上办理"),
           ("要多长时间", "材料齐全的当场受理，五个工作日内办结"), ("收费标准", "不收取任何费用"),
           ("网上怎么办", "登录湖南政务服务网或株洲市民APP在线申请")]
DISTRICTS = ["荷塘区", "芦淞区", "石峰区", "天元区", "渌口区", "攸县", "茶陵县", "炎陵县", "醴陵市"]
HOMOPHONES = {"保": "宝", "金": "经", "证": "正", "医": "衣", "户": "护", "燃": "然", "营": "赢", "税": "睡",
              "停": "听", "登": "灯", "籍": "级", "照": "召", "换": "焕", "迁": "千", "学": "雪", "残": "蚕"}
FILLERS = ["喂，你好。", "嗯，是这样的，", "我想问一下，", "那个，", "麻烦你，"]
TODAY = date(2026, 12, 3)
_CURRENT = "(valid_from IS NULL OR valid_from <= $2) AND (valid_until IS NULL OR valid_until >= $2)"
BASELINES = {
    "ilike": "SELECT id FROM kb_articles WHERE (question ILIKE ANY($1) OR answer ILIKE ANY($1)) "
             f"AND {_CURRENT} ORDER BY id LIMIT 3",
    "ilike_ranked": "SELECT id FROM (SELECT id, (SELECT 2 * count(*) FILTER (WHERE question ILIKE p) "
                    "+ count(*) FILTER (WHERE answer ILIKE p) FROM unnest($1::text[]) AS p) AS hits "
                    f"FROM kb_articles WHERE {_CURRENT}) s WHERE hits > 0 ORDER BY hits DESC, id LIMIT 3",
}


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _articles(n: int) -> list[dict]:
    out = []
    for i in range(n):
        (topic, dept), (aspect, answer), district = TOPICS[i % len(TOPICS)], \
            ASPECTS[(i // len(TOPICS)) % len(ASPECTS)], DISTRICTS[(i // (len(TOPICS) * len(ASPECTS))) % len(DISTRICTS)]
        expired = i % 10 == 9
        out.append({"question": f"{district}{topic}{aspect}？", "answer": f"{district}{topic}业务{answer}。咨询电话12345。",
                    "category": "其他咨询", "department": dept, "keywords": [topic, aspect[:2]],
                    "valid_from": "2020-01-01", "valid_until": "2021-12-31" if expired else None,
                    "topic": topic, "aspect": aspect})
    return out


def _calls(calls: int, rng: random.Random) -> list[list[tuple[str, str, str, bool]]]:
    """Per call its turns: (text, topic, aspect, homophones) - the last turn's topic is the one asked."""
    out = []
    for _ in range(calls):
        turns = []
        for _ in range(4):
            topic, _dept = rng.choice(TOPICS)
            aspect, _ans = rng.choice(ASPECTS)
            text = f"{rng.choice(FILLERS)}{rng.choice(DISTRICTS)}的{topic}{aspect}"
            noisy = rng.random() < 1 / 3
            if noisy:
                text = "".join(HOMOPHONES.get(ch, ch) if rng.random() < 0.7 else ch for ch in text)
            turns.append((text, topic, aspect, noisy))
        out.append(turns)
    return out


async def run(articles: int = 3000, calls: int = 50) -> dict:
    from records.db import Database
    from records.knowledge import KnowledgeStore
    from tickets.knowledge import query_terms, rank, words_of

    base = Path(tempfile.mkdtemp(prefix="hotline-bench-kb-"))
    os.chmod(base, 0o711)
    server = PostgresServer(base / "postgres", base / "log")
    await asyncio.to_thread(server.start)
    db = None
    try:
        db = await Database.open(server.app_dsn, admin_dsn=server.admin_dsn, roles=(APP_ROLE, CDR_ROLE))
        store = KnowledgeStore(db.pool)
        out: dict = {"machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)}}
        arts = _articles(articles)
        words_of("预热分词词典")                              # jieba's dictionary, once
        t = time.perf_counter()
        by_id = {}
        async with db.pool.acquire() as conn:
            for a in arts:
                fields = {k: v for k, v in a.items() if k not in ("topic", "aspect")}
                saved = await store.save(fields, "bench", conn=conn)
                by_id[saved["id"]] = a
            await conn.execute("ANALYZE kb_articles")
        out["articles"] = {"count": articles, "expired": sum(1 for a in arts if a["valid_until"]),
                           "index_per_s": round(articles / (time.perf_counter() - t), 1)}

        rng = random.Random(17)
        kb_lat: list[float] = []
        seg_lat: list[float] = []
        base_lat: dict[str, list[float]] = {name: [] for name in BASELINES}
        right = {"knowledge": {"clean": 0, "noisy": 0}, "ilike": {"clean": 0, "noisy": 0},
                 "ilike_ranked": {"clean": 0, "noisy": 0}}
        asked = {"clean": 0, "noisy": 0}
        expired_found = 0
        for turns in _calls(calls, rng):
            transcript = ""
            for text, topic, aspect, noisy in turns:
                transcript += text + "。"
                kind = "noisy" if noisy else "clean"
                asked[kind] += 1
                # -- the knowledge search (the suggest route's work, without HTTP)
                t0 = time.perf_counter()
                terms = query_terms(transcript)
                t1 = time.perf_counter()
                found = rank(await store.candidates(terms, TODAY), terms, TODAY, 3)
                kb_lat.append(time.perf_counter() - t0)
                seg_lat.append(t1 - t0)
                expired_found += sum(1 for f in found if by_id[f["id"]]["valid_until"])
                if found and by_id[found[0]["id"]]["topic"] == topic and by_id[found[0]["id"]]["aspect"] == aspect:
                    right["knowledge"][kind] += 1
                # -- the baselines: the same words, ILIKE over question and answer (first 3 by id; ranked)
                words = words_of(transcript[-240:])          # the same recent end query_terms reads
                pats = ["%" + w + "%" for w in words] or ["%"]
                for name, sql in BASELINES.items():
                    t0 = time.perf_counter()
                    async with db.pool.acquire() as conn:
                        rows = await conn.fetch(sql, pats, TODAY)
                    base_lat[name].append(time.perf_counter() - t0)
                    if rows and by_id[rows[0]["id"]]["topic"] == topic and by_id[rows[0]["id"]]["aspect"] == aspect:
                        right[name][kind] += 1

        def stats(lat: list[float]) -> dict:
            return {"updates": len(lat), "p50_ms": round(_pct(lat, 50) * 1000, 2), "p99_ms": round(_pct(lat, 99) * 1000, 2)}

        out["knowledge_search"] = {**stats(kb_lat), "segment_p50_ms": round(_pct(seg_lat, 50) * 1000, 2),
                                   "expired_suggested": expired_found}
        for name, lat in base_lat.items():
            out[f"baseline_{name}"] = stats(lat)
        ranked_lat = base_lat["ilike_ranked"]
        out["quality_top1"] = {name: {k: round(v / asked[k], 3) if asked[k] else None for k, v in r.items()}
                               for name, r in right.items()}
        kb99, b99 = _pct(kb_lat, 99), _pct(base_lat["ilike"], 99)
        kb50, b50 = _pct(kb_lat, 50), _pct(base_lat["ilike"], 50)
        r50, r99 = _pct(ranked_lat, 50), _pct(ranked_lat, 99)
        out["ratios"] = {"search_p50_vs_ilike_p50": round(kb50 / b50, 2) if b50 else None,
                         "search_p99_vs_ilike_p99": round(kb99 / b99, 2) if b99 else None,
                         "search_p50_vs_ilike_ranked_p50": round(kb50 / r50, 2) if r50 else None,
                         "search_p99_vs_ilike_ranked_p99": round(kb99 / r99, 2) if r99 else None}
        return out
    finally:
        if db is not None:
            await db.close()
        await asyncio.to_thread(server.stop)
        shutil.rmtree(base, ignore_errors=True)
