"""Warnings that cannot become a flood: one line per kind per interval."""
from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("uipc.daemon")
#: how often one kind of warning may be logged
LOG_INTERVAL = 10.0


class RateLimitedLog:
    """log.warning, at most once per ``interval`` per kind, with a count of
    the ones left out: a flood of bad clients must not fill the disk."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[str, list[float]] = {}

    def warn(self, kind: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        last = self._last.setdefault(kind, [-self.interval, 0])
        if now - last[0] < self.interval:
            last[1] += 1
            return
        if last[1]:
            msg += f" ({int(last[1])} more like it in the last {self.interval:.0f} s)"
        last[0], last[1] = now, 0
        log.warning(msg, *args, exc_info=exc_info)
