"""A learned classifier beside the rules: appeal type, category (L1/L2), urgency, emergency.

Features are TF-IDF character 1–3-grams of the caller's normalized words plus
word uni/bi-grams (the recogniser's words, or jieba's for typed text); each
field is a linear SVM with sigmoid-calibrated probabilities
(scikit-learn). The rules keep the high-precision cues: a life-safety phrase
sets the emergency and 特急 whatever the model says; otherwise the model's
probabilities and the rules' pick are blended.

Models live in a folder (default data/tickets-models, or $HOTLINE_TICKETS_MODEL_DIR):
`v0001.pkl`, `v0002.pkl`, ... written by this module only (0600) and
`current` naming the one in use. A missing default is trained at first use
from the committed labelled set (tests/data/tickets_*.jsonl) and cached there.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tickets.model import APPEAL_TYPES, TicketsError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
TRAIN_FILES = (DATA / "tickets_train.jsonl", DATA / "tickets_eval.jsonl")
FORMAT = 1
FIELDS = ("appeal_type", "category", "urgency", "emergency")
NONE = "无"
_DIGITS = re.compile(r"\d+")
MODEL_WEIGHT = {"appeal_type": 0.7, "category": 0.7, "urgency": 0.6}


def model_dir() -> Path:
    return Path(os.environ.get("HOTLINE_TICKETS_MODEL_DIR") or REPO / "data" / "tickets-models")


def prepare(text: str) -> str:
    """What the model reads: the normalized caller text, numbers as one token."""
    return _DIGITS.sub("#", text)


def words(text: str) -> list[str]:
    """Word tokens for the word n-grams: jieba over the prepared text (cached tokenizer)."""
    return _tokenizer()(text)


_TOK: Any = None
_TOK_LOCK = threading.Lock()


def _tokenizer():
    global _TOK
    if _TOK is None:
        with _TOK_LOCK:
            if _TOK is None:
                from tickets.rules import load_rules
                rules = load_rules()
                _TOK = lambda t: [w for w in rules.segment(t) if w.strip()]  # noqa: E731
    return _TOK


@dataclass
class Suggestion:
    value: Any
    confidence: float


class LearnedModel:
    """Per-field calibrated linear classifiers over one shared vectorizer."""

    def __init__(self, vectorizer: Any, classifiers: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.vectorizer = vectorizer
        self.classifiers = dict(classifiers)
        self.meta = dict(meta)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "?"))

    def predict(self, text: str) -> dict[str, list[tuple[str, float]]]:
        x = self.vectorizer.transform([prepare(text)])
        out: dict[str, list[tuple[str, float]]] = {}
        for name, clf in self.classifiers.items():
            probs = clf.predict_proba(x)[0]
            order = probs.argsort()[::-1]
            out[name] = [(str(clf.classes_[i]), float(probs[i])) for i in order]
        return out

    # -- blending with the rules --------------------------------------------------------
    def combine(self, text: str, rules: Any, appeal: Any, category: Any, urgency: Any, emergency: Any):
        from tickets.extract import _Pick
        from tickets.taxonomy import CategoryGuess

        pred = self.predict(text)
        suggestions: dict[str, list[dict[str, Any]]] = {}

        # emergency: the rules' cue stands; the model adds one only when it is sure
        em = emergency
        if em.value is None and "emergency" in pred:
            kind, p = pred["emergency"][0]
            urgent_p = dict(pred.get("urgency", [])).get("特急", 0.0)
            if kind != NONE and p >= 0.7 and urgent_p >= 0.6:
                em = _Pick(kind, round(min(p, urgent_p), 2), ("model",))
        if "emergency" in pred:
            ranked = [(k if k != NONE else None, p) for k, p in pred["emergency"]]
            if em.value is not None:
                ranked = [(em.value, max(em.confidence, dict(ranked).get(em.value, 0.0)))] + \
                         [(k, p) for k, p in ranked if k != em.value]
            suggestions["emergency"] = [{"value": k, "confidence": round(p, 2)} for k, p in ranked[:3]]

        # urgency
        urg_scores = _blend(pred.get("urgency", []), urgency, MODEL_WEIGHT["urgency"])
        if em.value is not None:
            urg_scores["特急"] = max(urg_scores.get("特急", 0.0), 0.9 if emergency.value else em.confidence)
        if urgency.value == "特急" and urgency.evidence:
            urg_scores["特急"] = max(urg_scores.get("特急", 0.0), urgency.confidence)
        urg = _top(urg_scores, urgency, _Pick)
        suggestions["urgency"] = _ranked(urg_scores)

        # appeal type
        app_scores = _blend(pred.get("appeal_type", []), appeal, MODEL_WEIGHT["appeal_type"])
        if em.value is not None:
            app_scores["求助"] = max(app_scores.get("求助", 0.0), 0.8)
        app = _top(app_scores, appeal, _Pick)
        suggestions["appeal_type"] = _ranked(app_scores)

        # category: first level from the summed children, second level under it
        cat_pred = pred.get("category", [])
        l1: dict[str, float] = {}
        for label, p in cat_pred:
            top = label.partition("/")[0]
            l1[top] = l1.get(top, 0.0) + p * MODEL_WEIGHT["category"]
        if category.matched and category.category:
            r_top = category.category[0]
            l1[r_top] = l1.get(r_top, 0.0) + (1 - MODEL_WEIGHT["category"]) * max(category.confidence, 0.3)
        ranked_l1 = sorted(l1.items(), key=lambda kv: kv[1], reverse=True)
        cat = category
        cat_suggestions = []
        for top, score in ranked_l1[:3]:
            children = [(lab.partition("/")[2], p) for lab, p in cat_pred if lab.startswith(top + "/")]
            l1_p = sum(p for lab, p in cat_pred if lab.partition("/")[0] == top) or 1e-9
            path: tuple[str, ...] = (top,)
            if children:
                child, cp = max(children, key=lambda c: c[1])
                if cp / l1_p >= 0.5:
                    path = (top, child)
            if (len(path) == 1 and category.category and category.category[0] == top
                    and len(category.category) > 1):
                path = tuple(category.category)
            cat_suggestions.append({"value": list(path), "confidence": round(min(score, 0.99), 2)})
        if cat_suggestions:
            best = cat_suggestions[0]
            evidence = category.evidence if category.category and category.category[0] == best["value"][0] else ("model",)
            cat = CategoryGuess(tuple(best["value"]), best["confidence"], tuple(evidence), True)
        suggestions["category"] = cat_suggestions
        return app, cat, urg, em, suggestions


def _blend(pred: Sequence[tuple[str, float]], pick: Any, weight: float) -> dict[str, float]:
    scores = {k: p * weight for k, p in pred}
    if pick.value is not None:
        rule_conf = pick.confidence if pick.evidence else pick.confidence * 0.5
        scores[pick.value] = scores.get(pick.value, 0.0) + (1 - weight) * rule_conf
    return scores


def _top(scores: Mapping[str, float], fallback: Any, pick_type: Any) -> Any:
    if not scores:
        return fallback
    best = max(scores, key=lambda k: scores[k])
    evidence = fallback.evidence if best == fallback.value else ("model",)
    return pick_type(best, round(min(0.99, scores[best]), 2), tuple(evidence))


def _ranked(scores: Mapping[str, float]) -> list[dict[str, Any]]:
    return [{"value": k, "confidence": round(min(0.99, v), 2)}
            for k, v in sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:3]]


# -- training --------------------------------------------------------------------------------

def caller_text(transcript: str) -> str:
    """The text the extractor hands the model (normalized caller words)."""
    from tickets.normalize import normalize
    from tickets.rules import load_rules
    from tickets.turns import split_turns

    rules = load_rules()
    d = split_turns(transcript)
    norm = normalize(d.caller_text or d.plain, rules.limits.max_chars, rules.text.fillers, rules.segment,
                     rules.text.stutters)
    from tickets.extract import _homophones
    return _homophones(norm.text, rules)


def labels_of(case_labels: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    if case_labels.get("appeal_type") in APPEAL_TYPES:
        out["appeal_type"] = case_labels["appeal_type"]
    cat = case_labels.get("category")
    if isinstance(cat, list) and cat:
        out["category"] = "/".join(cat[:2])
    if case_labels.get("urgency"):
        out["urgency"] = case_labels["urgency"]
    if "emergency" in case_labels:
        out["emergency"] = case_labels["emergency"] or NONE
    return out


def train(cases: Iterable[tuple[str, Mapping[str, Any]]], version: str = "v0000", source: str = "") -> LearnedModel:
    """A model from (transcript, labels) pairs."""
    from scipy.sparse import hstack  # noqa: F401  (scikit-learn's dependency)
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion
    from sklearn.svm import LinearSVC

    texts, labels = [], []
    for transcript, lab in cases:
        texts.append(prepare(caller_text(transcript)))
        labels.append(labels_of(lab))
    vectorizer = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=60000)),
        ("words", TfidfVectorizer(analyzer=_word_ngrams, min_df=2, sublinear_tf=True, max_features=40000)),
    ])
    x = vectorizer.fit_transform(texts)
    classifiers = {}
    for name in FIELDS:
        rows = [i for i, lab in enumerate(labels) if name in lab]
        ys = [labels[i][name] for i in rows]
        if len(set(ys)) < 2:
            continue
        counts = {y: ys.count(y) for y in set(ys)}
        keep = [i for i, y in zip(rows, ys) if counts[y] >= 3]
        ys = [labels[i][name] for i in keep]
        clf = CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced"), method="sigmoid", cv=3)
        clf.fit(x[keep], ys)
        classifiers[name] = clf
    meta = {"format": FORMAT, "version": version, "trained_at": time.time(), "cases": len(texts), "source": source}
    return LearnedModel(vectorizer, classifiers, meta)


def _word_ngrams(text: str) -> list[str]:
    ws = words(text)
    return ws + [a + " " + b for a, b in zip(ws, ws[1:])]


def cases_from_files(paths: Iterable[Path], split: str | None = None, exclude_split: str | None = "holdout"):
    for path in paths:
        if not Path(path).exists():
            continue
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            s = str(obj.get("split") or "dev")
            if split is not None and s != split:
                continue
            if split is None and exclude_split and s == exclude_split:
                continue
            yield obj["transcript"], obj["labels"]


# -- the registry of versions ----------------------------------------------------------------

class ModelError(TicketsError):
    pass


def save(model: LearnedModel, folder: Path | None = None) -> Path:
    folder = folder or model_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{model.version}.pkl"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        pickle.dump({"format": FORMAT, "meta": model.meta, "vectorizer": model.vectorizer,
                     "classifiers": model.classifiers}, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def load(path: Path) -> LearnedModel:
    """A model file this product wrote (0600, in the model folder): pickle is only read from there."""
    st = path.stat()
    if st.st_mode & 0o077:
        raise ModelError("tickets.model_unsafe", f"{path}: readable by others; refusing to load", path=str(path))
    with path.open("rb") as fh:
        data = pickle.load(fh)  # noqa: S301 - our own file, permissions checked above
    if data.get("format") != FORMAT:
        raise ModelError("tickets.model_format", f"{path}: format {data.get('format')} not {FORMAT}", path=str(path))
    return LearnedModel(data["vectorizer"], data["classifiers"], data["meta"])


_VERSION = re.compile(r"^v\d{4}$")


def versions(folder: Path | None = None) -> list[dict[str, Any]]:
    folder = folder or model_dir()
    cur = current_version(folder)
    out = []
    for p in sorted(folder.glob("v*.pkl")) if folder.exists() else ():
        meta_path = p.with_suffix(".json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        out.append({"version": p.stem, "current": p.stem == cur, **meta})
    return out


def current_version(folder: Path | None = None) -> str | None:
    folder = folder or model_dir()
    try:
        v = (folder / "current").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return v if _VERSION.match(v) and (folder / f"{v}.pkl").exists() else None


def use(version: str, folder: Path | None = None) -> None:
    folder = folder or model_dir()
    if not _VERSION.match(version or "") or not (folder / f"{version}.pkl").exists():
        raise ModelError("tickets.model_unknown", f"no model {version!r} in {folder}", version=version)
    tmp = folder / "current.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(version + "\n")
    os.replace(tmp, folder / "current")
    _CACHE.clear()


def next_version(folder: Path | None = None) -> str:
    folder = folder or model_dir()
    nums = [int(p.stem[1:]) for p in folder.glob("v*.pkl") if _VERSION.match(p.stem)] if folder.exists() else []
    return f"v{(max(nums) + 1 if nums else 1):04d}"


def write_meta(folder: Path, version: str, meta: Mapping[str, Any]) -> None:
    path = folder / f"{version}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, ensure_ascii=False, indent=1)


_CACHE: dict[str, LearnedModel | None] = {}
_LOAD_LOCK = threading.Lock()


def default_model() -> LearnedModel | None:
    """The current model of the model folder; trained from the committed set at first use.
    None (rules only) when scikit-learn is missing or $HOTLINE_TICKETS_MODEL is "off"."""
    if os.environ.get("HOTLINE_TICKETS_MODEL", "").lower() in ("off", "0", "none", "rules"):
        return None
    folder = model_dir()
    key = str(folder)
    if key in _CACHE:
        return _CACHE[key]
    with _LOAD_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        try:
            cur = current_version(folder)
            if cur is None:
                model = bootstrap(folder)
            else:
                model = load(folder / f"{cur}.pkl")
        except ImportError:
            log.warning("scikit-learn not installed: draft tickets from the rules only")
            model = None
        _CACHE[key] = model
        return model


def bootstrap(folder: Path) -> LearnedModel:
    """Train the default model from the committed labelled set and make it current."""
    version = next_version(folder)
    model = train(cases_from_files(TRAIN_FILES), version=version, source="committed set")
    save(model, folder)
    write_meta(folder, version, {k: v for k, v in model.meta.items()})
    use(version, folder)
    log.info("trained the default draft-ticket model %s from %d cases", version, model.meta["cases"])
    return model
