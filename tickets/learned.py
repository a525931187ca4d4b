"""A learned classifier beside the rules: appeal type, category (L1/L2), urgency, emergency.

Features are TF-IDF character 1–3-grams of the caller's normalized words plus
word uni/bi-grams (the recogniser's words, or jieba's for typed text); each
field is a multinomial logistic regression (scikit-learn) whose softmax
temperature is fitted on out-of-fold scores, so its probabilities are
calibrated. Prediction is a sparse dot product in numpy (no per-call
scikit-learn overhead): well under a millisecond a draft. The rules keep the high-precision cues: a life-safety phrase
sets the emergency and 特急 whatever the model says; otherwise the model's
probabilities and the rules' pick are blended.

Models live in a folder (default data/tickets-models, or $HOTLINE_TICKETS_MODEL_DIR):
`v0001.pkl`, `v0002.pkl`, ... written by this module only (0600) and
`current` naming the one in use. A missing default is trained at first use
from the committed labelled set (tests/data/tickets_*.jsonl) and cached there.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tickets.model import APPEAL_TYPES, TicketsError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
TRAIN_FILES = (DATA / "tickets_train.jsonl", DATA / "tickets_eval.jsonl", DATA / "tickets_written.jsonl")
FORMAT = 2
FIELDS = ("appeal_type", "category", "urgency", "emergency")
NONE = "无"
_DIGITS = re.compile(r"\d+")
# How much the model's probability counts against the rules' pick (1 - weight). Trained on
# templated calls only, the model generalised worse than the rules and only tipped close
# calls (0.25 / 0.35 / 0.3); with the hand-written calls (tickets_written.jsonl) in its set,
# a 2-fold cross-validation over them chose these weights; retrained on a site's confirmed
# tickets it is checked against the current one before it is used.
MODEL_WEIGHT = {"appeal_type": 0.4, "category": 0.5, "urgency": 0.4}
# The model names an emergency the rules did not hear only when it is this sure of the kind and of 特急.
EMERGENCY_MIN_P = 0.7
EMERGENCY_MIN_URGENT = 0.6
# How much a hand-written call counts in training against one from the generator (whose
# templates repeat: thousands of them would otherwise drown a few hundred calls in callers' words).
GENERATED = frozenset({"tickets_train.jsonl"})
HAND_WRITTEN_WEIGHT = 1.0


def model_dir() -> Path:
    return Path(os.environ.get("HOTLINE_TICKETS_MODEL_DIR") or REPO / "data" / "tickets-models")


def features(text: str, boundaries: frozenset[int] | Sequence[int]) -> list[str]:
    """Character 1–3-grams of the caller's normalized words (numbers as #) and word 1–2-grams
    (the recogniser's words, or jieba's for typed text, as extraction split them)."""
    masked = _DIGITS.sub("#", text)
    n = len(masked)
    feats = list(masked)
    feats += [masked[i:i + 2] for i in range(n - 1)]
    feats += [masked[i:i + 3] for i in range(n - 2)]
    cuts = sorted(b for b in boundaries if 0 <= b <= n) if len(masked) == len(text) else []
    ws = [masked[x:y] for x, y in zip(cuts, cuts[1:]) if y > x]
    feats += ["w" + w for w in ws]
    feats += ["b" + a + "_" + b for a, b in zip(ws, ws[1:])]
    return feats


class LearnedModel:
    """Per-field calibrated linear classifiers over one shared vectorizer."""

    def __init__(self, vectorizer: Any, classifiers: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.vectorizer = vectorizer
        self.classifiers = dict(classifiers)
        self.meta = dict(meta)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "?"))

    def predict(self, text: str, boundaries: frozenset[int] | Sequence[int] = ()) -> dict[str, list[tuple[str, float]]]:
        import numpy as np

        vocab, idf = self.vectorizer["vocabulary"], self.vectorizer["idf"]
        counts: dict[int, int] = {}
        for f in features(text, boundaries):
            j = vocab.get(f)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        out: dict[str, list[tuple[str, float]]] = {}
        weights, bias, slices, inv_t, starts, lengths = self._stacked()
        scores = bias
        if counts:
            n = len(counts)
            idx = np.fromiter(counts, dtype=np.int64, count=n)
            vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=n))) * idf[idx]
            vals /= np.sqrt(vals @ vals) or 1.0
            scores = bias + vals @ weights[idx]
        # one softmax per field, all fields at once (per-field max, exp, per-field sum)
        z = scores * inv_t
        z = np.exp(z - np.repeat(np.maximum.reduceat(z, starts), lengths))
        probs = (z / np.repeat(np.add.reduceat(z, starts), lengths)).tolist()
        for name, start, end, _, classes in slices:
            out[name] = sorted(zip(classes, probs[start:end]), key=lambda kv: kv[1], reverse=True)
        return out

    def _stacked(self):
        """All fields' weights side by side: one sparse-row dot product per draft."""
        if getattr(self, "_stack", None) is None:
            import numpy as np

            blocks, biases, slices, pos = [], [], [], 0
            for name, clf in self.classifiers.items():
                n = len(clf["classes"])
                blocks.append(clf["weights"])
                biases.append(clf["bias"])
                slices.append((name, pos, pos + n, clf["temperature"], list(clf["classes"])))
                pos += n
            self.vectorizer["idf"] = np.asarray(self.vectorizer["idf"], dtype=np.float32)
            inv_t = np.hstack([np.full(e - s, 1.0 / t, dtype=np.float32) for _, s, e, t, _ in slices])
            starts = np.array([s for _, s, _, _, _ in slices], dtype=np.int64)
            lengths = np.array([e - s for _, s, e, _, _ in slices], dtype=np.int64)
            self._stack = (np.ascontiguousarray(np.hstack(blocks), dtype=np.float32),
                           np.hstack(biases).astype(np.float32), slices, inv_t, starts, lengths)
        return self._stack

    # -- blending with the rules --------------------------------------------------------
    def combine(self, text: str, boundaries: Any, appeal: Any, category: Any, urgency: Any, emergency: Any):
        from tickets.extract import _Pick
        from tickets.taxonomy import CategoryGuess

        pred = self.predict(text, boundaries)
        suggestions: dict[str, list[dict[str, Any]]] = {}

        # emergency: the rules' cue stands; the model adds one only when it is sure
        em = emergency
        if em.value is None and "emergency" in pred:
            kind, p = pred["emergency"][0]
            urgent_p = dict(pred.get("urgency", [])).get("特急", 0.0)
            if kind != NONE and p >= EMERGENCY_MIN_P and urgent_p >= EMERGENCY_MIN_URGENT:
                em = _Pick(kind, round(min(p, urgent_p), 2), ("model",))
        if "emergency" in pred:
            ranked = [(k if k != NONE else None, p) for k, p in pred["emergency"]]
            if em.value is not None:
                ranked = [(em.value, max(em.confidence, dict(ranked).get(em.value, 0.0)))] + \
                         [(k, p) for k, p in ranked if k != em.value]
            suggestions["emergency"] = [{"value": k, "confidence": round(p, 2)} for k, p in ranked[:3]]

        # urgency
        urg_scores = _blend(pred.get("urgency", []), urgency, MODEL_WEIGHT["urgency"])
        if urgency.evidence and urgency.value in ("特急", "紧急"):
            urg_scores[urgency.value] = max(urg_scores.values()) + 0.01   # a heard cue stands
        elif em.value is not None:
            urg_scores["特急"] = max(urg_scores.get("特急", 0.0), em.confidence)
        urg = _top(urg_scores, urgency, _Pick)
        suggestions["urgency"] = _ranked(urg_scores)

        # appeal type
        app_scores = _blend(pred.get("appeal_type", []), appeal, MODEL_WEIGHT["appeal_type"])
        if em.value is not None:
            app_scores["求助"] = max(app_scores.get("求助", 0.0), 0.8)
        app = _top(app_scores, appeal, _Pick)
        suggestions["appeal_type"] = _ranked(app_scores)

        # category: first level from the summed children, second level under it
        cat_pred = pred.get("category", [])[:8]        # the rest carries next to no probability
        l1: dict[str, float] = {}
        best_child: dict[str, tuple[str, float]] = {}
        for label, p in cat_pred:                      # sorted best first: the first child seen is the best
            top, _, child = label.partition("/")
            l1[top] = l1.get(top, 0.0) + p
            if child and top not in best_child:
                best_child[top] = (child, p)
        model_l1 = dict(l1)
        w = MODEL_WEIGHT["category"]
        l1 = {k: v * w for k, v in l1.items()}
        if category.matched and category.category:
            r_top = category.category[0]
            l1[r_top] = l1.get(r_top, 0.0) + (1 - w) * max(category.confidence, 0.3)
        ranked_l1 = sorted(l1.items(), key=lambda kv: kv[1], reverse=True)
        cat = category
        cat_suggestions: list[dict[str, Any]] = []
        for top, score in ranked_l1[:3]:
            path: tuple[str, ...] = (top,)
            if category.category and category.category[0] == top and len(category.category) > 1:
                path = tuple(category.category)             # the rules heard a second-level word
            elif top in best_child and best_child[top][1] / (model_l1.get(top) or 1e-9) >= 0.5:
                path = (top, best_child[top][0])
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

def model_input(transcript: str) -> tuple[str, frozenset[int]]:
    """The caller's normalized text and its word boundaries, exactly as extraction sees them."""
    from tickets.extract import prepare as prepare_text
    from tickets.rules import load_rules

    rules = load_rules()
    _, _, text, boundaries, _ = prepare_text(str(transcript)[: rules.limits.max_chars], rules)
    return text, boundaries


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


def train(cases: Iterable[Sequence[Any]], version: str = "v0000", source: str = "",
          c: float = 8.0) -> LearnedModel:
    """A model from (transcript, labels) pairs, or (transcript, labels, weight) triples:
    multinomial logistic regression per field over TF-IDF features, its softmax temperature
    fitted on 3-fold out-of-fold scores (calibration)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    docs, labels, weights = [], [], []
    for case in cases:
        transcript, lab = case[0], case[1]
        text, bounds = model_input(transcript)
        if text:
            docs.append(features(text, bounds))
            labels.append(labels_of(lab))
            weights.append(float(case[2]) if len(case) > 2 else 1.0)
    sample_weight = np.asarray(weights)
    vec = TfidfVectorizer(analyzer=_identity, min_df=2, sublinear_tf=True, max_features=120000, dtype=np.float64)
    x = vec.fit_transform(docs)
    classifiers: dict[str, dict[str, Any]] = {}
    for name in FIELDS:
        rows = [i for i, lab in enumerate(labels) if name in lab]
        ys = [labels[i][name] for i in rows]
        counts = {y: ys.count(y) for y in set(ys)}
        keep = [i for i, y in zip(rows, ys) if counts[y] >= 3]
        yk = np.array([labels[i][name] for i in keep])
        if len(set(yk)) < 2:
            continue
        xs, ws = x[keep], sample_weight[keep]

        def fit(xa, ya, wa):
            return LogisticRegression(C=c, max_iter=400, class_weight="balanced").fit(xa, ya, sample_weight=wa)

        model = fit(xs, yk, ws)
        # temperature: out-of-fold decision scores, the T that minimises log loss
        oof = np.zeros((len(yk), len(model.classes_)))
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
        try:
            for tr, te in folds.split(xs, yk):
                m = fit(xs[tr], yk[tr], ws[tr])
                cols = [list(model.classes_).index(k) for k in m.classes_]
                part = np.full((len(te), len(model.classes_)), -1e3)
                part[:, cols] = m.decision_function(xs[te]) if len(m.classes_) > 2 else np.column_stack(
                    [-m.decision_function(xs[te]), m.decision_function(xs[te])])
                oof[te] = part
            temperature = _fit_temperature(oof, np.searchsorted(model.classes_, yk))
        except ValueError:
            temperature = 1.0
        coef = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_[0], model.coef_[0]])
        bias = model.intercept_ if len(model.classes_) > 2 else np.array([-model.intercept_[0], model.intercept_[0]])
        classifiers[name] = {"classes": [str(k) for k in model.classes_], "weights": np.ascontiguousarray(coef.T, dtype=np.float32),
                             "bias": bias.astype(np.float32), "temperature": float(temperature)}
    vectorizer = {"vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()}, "idf": vec.idf_.astype(np.float64)}
    meta = {"format": FORMAT, "version": version, "trained_at": time.time(), "cases": len(docs), "source": source,
            "temperatures": {k: round(v["temperature"], 3) for k, v in classifiers.items()}}
    return LearnedModel(vectorizer, classifiers, meta)


def _identity(doc: list[str]) -> list[str]:
    return doc


def _fit_temperature(scores: Any, truth: Any) -> float:
    import numpy as np

    best, best_loss = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.05), np.log(20.0), 60)):
        z = scores / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(len(truth)), truth].mean()
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def weighted_cases(paths: Iterable[Path]):
    """(transcript, labels, weight) from the labelled files: the generator's calls weigh 1,
    hand-written ones HAND_WRITTEN_WEIGHT."""
    for path in paths:
        weight = 1.0 if Path(path).name in GENERATED else HAND_WRITTEN_WEIGHT
        for transcript, labels in cases_from_files([path]):
            yield transcript, labels, weight


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
            model = None if cur is None else load(folder / f"{cur}.pkl")
            if model is None or _stale_default(model):
                model = bootstrap(folder)
        except ImportError:
            log.warning("scikit-learn not installed: draft tickets from the rules only")
            model = None
        _CACHE[key] = model
        return model


def committed_set_digest() -> str:
    """sha256 of the committed labelled set: a default model trained from another copy is stale."""
    h = hashlib.sha256()
    for path in TRAIN_FILES:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _stale_default(model: LearnedModel) -> bool:
    """A model trained from the committed set, but not from the set as committed now (a site's own
    model, trained from its confirmed tickets, is never replaced)."""
    if model.meta.get("source") != "committed set":
        return False
    return model.meta.get("set_digest") != committed_set_digest()


def bootstrap(folder: Path) -> LearnedModel:
    """Train the default model from the committed labelled set and make it current."""
    version = next_version(folder)
    model = train(weighted_cases(TRAIN_FILES), version=version, source="committed set")
    model.meta["set_digest"] = committed_set_digest()
    save(model, folder)
    write_meta(folder, version, {k: v for k, v in model.meta.items()})
    use(version, folder)
    log.info("trained the default draft-ticket model %s from %d cases", version, model.meta["cases"])
    return model
