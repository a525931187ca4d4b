"""Logging set-up: one line per record, personal data masked on the way out."""
from __future__ import annotations

import logging
import sys

from kernel.privacy import mask_text


class MaskingFormatter(logging.Formatter):
    """Masks long digit runs (phone numbers) in every formatted record."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def setup(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("panoramisk", "asyncio", "jieba"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
