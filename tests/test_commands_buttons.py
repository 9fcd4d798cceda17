"""The one registry of choice buttons (``bot.commands.buttons``): which route answers a key, and the
`/mge forget` confirmation keys. How each platform renders a press is tested in test_discord_* and
test_slack_* (unknown and stale buttons: test_discord_gateway_faults, test_slack_http)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.commands.buttons import ROUTES, route_for
from bot.commands.member_data import (
    FORGET_CANCEL_KEY,
    FORGET_EXPIRED_TEXT,
    FORGET_KEPT_TEXT,
    forget_button_key,
    forget_button_request,
    forget_refusal_text,
)
from bot.privacy.confirmations import FORGET_CONFIRM_WINDOW
from core.messages import CommunityRef

ASKED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "route"),
    [
        ("general:4:17", "generalization"),
        ("general:4:done", "generalization"),
        ("forget:123:1700000000", "forget"),
        (FORGET_CANCEL_KEY, "forget"),
        ("fair:9:yes", "legitimacy"),
        ("survey:9:3", "legitimacy"),
        ("poll:upgrade", "poll"),
        ("accept", "interview"),
        ("confirm", "interview"),
        # A key no route knows (an older version's, or a typo'd one) is the interview's: it answers that the
        # button is out of date and repeats where the member is.
        ("vote:3", "interview"),
        ("", "interview"),
    ],
)
def test_every_key_has_exactly_one_route(key, route):
    assert route_for(key).name == route
    assert [r.name for r in ROUTES][-1] == "interview"  # the catch-all comes last


def test_only_picks_keep_the_other_buttons_and_only_the_interview_needs_the_community():
    assert [r.name for r in ROUTES if r.several_per_message] == ["generalization"]
    assert [r.name for r in ROUTES if r.needs_community] == ["interview"]
    assert [r.name for r in ROUTES if r.in_channel] == ["poll"]  # answered privately, the message untouched


@pytest.mark.parametrize("platform_id", ["123456789012345678", "T0ABCDEF"])
def test_a_forget_key_carries_its_community_and_expires(platform_id):
    key = forget_button_key(CommunityRef("discord", platform_id, "Guild"), asked_at=ASKED)
    assert key == f"forget:{platform_id}:{int(ASKED.timestamp())}"
    assert forget_button_request(key, now=ASKED + FORGET_CONFIRM_WINDOW) == platform_id
    assert forget_button_request(key, now=ASKED + FORGET_CONFIRM_WINDOW + timedelta(seconds=1)) is None
    assert forget_button_request(key, now=ASKED - timedelta(seconds=1)) is None  # asked "in the future"


@pytest.mark.parametrize(
    "key",
    [FORGET_CANCEL_KEY, "forget:", "forget:123", "forget::1700000000", "forget:12:34:1700000000", "forget:123:soon"],
)
def test_a_forget_key_that_is_not_a_fresh_request_erases_nothing(key):
    assert forget_button_request(key, now=ASKED) is None
    assert forget_refusal_text(key) == (FORGET_KEPT_TEXT if key == FORGET_CANCEL_KEY else FORGET_EXPIRED_TEXT)
