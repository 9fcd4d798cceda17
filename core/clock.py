"""The time, always timezone-aware UTC: what every stored timestamp and every window is measured in."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
