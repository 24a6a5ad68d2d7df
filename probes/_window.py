"""Sliding-window counts kept between cycles: `[[time, count], ...]`, JSON-able for the store."""

from __future__ import annotations

Buckets = list[list[float]]


def add(buckets: Buckets | None, now: float, count: int, keep: float) -> Buckets:
    """`buckets` plus `count` at `now`, without the buckets older than `keep` seconds."""
    kept = [b for b in (buckets or []) if now - b[0] <= keep]
    return [*kept, [now, float(count)]] if count else kept


def total(buckets: Buckets | None, now: float, within: float) -> int:
    """The count inside the last `within` seconds."""
    return int(sum(n for t, n in (buckets or []) if now - t <= within))
