"""Choice buttons, platform-neutral: one registry from a button's key to what a press on it does.

Every button the bot makes carries a *key* (Discord: ``custom_id`` ``mge:choice:<key>``; Slack: the
``value`` of an ``mge_choice_<n>`` action). An adapter turns a press into a :class:`ButtonPress`, asks
:func:`route_for` which :class:`ButtonRoute` answers it (to acknowledge the press the way that route
needs), runs the route's handler and renders the :class:`ButtonReply`. The routes, by key:

- ``general:…`` — values picked after a confirmed card (docs/method.md §2); several per message
- ``forget:…``  — the confirmation under `/mge forget` (``bot.commands.member_data``)
- ``fair:…``, ``survey:…`` — the legitimacy questions (docs/method.md §8)
- ``why:…``, ``dmvote:…`` — the reason question after a vote, and stories voted on in a DM (``bot.voting.reasons``,
  ``bot.voting.dm_vote``; docs/method.md §7)
- ``valuecheck:…`` — "is this still what you care about?" after dedup changed a member's value (§4)
- ``poll:…``    — a vote on a private story poll, in a channel (``bot.voting.private``; docs/method.md §7)
- anything else — an answer to the interview, exactly as if the member had typed the key; a press under
  an old prompt is sent with ``is_choice`` and the interview says the button is out of date.

A press the bot has no button for at all (an action id or custom_id from an older version) is answered
with :data:`STALE_BUTTON_TEXT` on every platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.commands.member_data import FORGET_KEY_PREFIX, forget, forget_button_request, forget_refusal_text
from bot.generalization.picks import PressResult, PressStatus, record_press
from bot.interview.service import InterviewService
from bot.legitimacy.checks import Outgoing, record_answer
from bot.values.checks import record_check_answer
from bot.voting.dm_vote import answer_vote_button
from bot.voting.private import PollPress, vote_by_button
from bot.voting.reasons import answer_reason_button
from core.eligibility import Facts
from core.generalization import is_generalization_key
from core.legitimacy import is_legitimacy_key
from core.messages import CommunityRef, InboundMessage, Outbound, Person
from core.polls import is_poll_key
from core.value_checks import is_value_check_key
from core.vote_reasons import is_reason_key, is_vote_key
from storage.database import Database

STALE_BUTTON_TEXT = "This button is no longer in use. Try `/mge help` to see what I can do now."


@dataclass(frozen=True, slots=True)
class PressedMessage:
    """The channel message a pressed button is on (``in_channel`` routes)."""

    channel_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class ButtonPress:
    key: str
    platform: str
    person: Person
    #: Where the press came from, when the platform says so (a Slack workspace). A Discord DM carries no
    #: server: the adapter finds the member's community for the routes that need one (``needs_community``).
    community: CommunityRef | None
    #: The platform's id of this press: a redelivered press is recognised by it.
    event_id: str
    now: datetime
    database: Database
    interviews: InterviewService
    #: For ``in_channel`` routes: the message, when the press happened by the platform's clock (its
    #: order among the member's presses; None: order of arrival), and what it says about the member.
    message: PressedMessage | None = None
    event_order: int | None = None
    facts: Facts | None = None


@dataclass(frozen=True, slots=True)
class ButtonReply:
    #: Interview messages for the member's DM, rendered like any other message of the interview.
    messages: tuple[Outbound, ...] = ()
    #: Plain-text messages for the member's DM (value titles, member words inside: escaped whole).
    plain: tuple[Outgoing, ...] = ()
    #: A short answer shown only to the member, where they pressed (Discord: an ephemeral follow-up).
    private: str | None = None
    #: A generalization pick: what it did, so the adapter can show it on the pressed message.
    pick: PressResult | None = None


ButtonHandler = Callable[[ButtonPress], Awaitable[ButtonReply]]


@dataclass(frozen=True, slots=True)
class ButtonRoute:
    name: str
    matches: Callable[[str], bool]
    handler: ButtonHandler
    #: Several buttons of one message may be pressed: only the pressed one is retired, not the message's.
    several_per_message: bool = False
    #: Answers in the member's community, which the adapter must find (the interview).
    needs_community: bool = False
    #: Runs while none of the member's messages is being handled (their data may change or go).
    exclusive: bool = False
    #: On a message in a channel, seen by everyone: the adapter leaves the message as it is, answers
    #: only the member (``ButtonReply.private``, ephemeral) and names the message and community.
    in_channel: bool = False


async def answer_generalization(press: ButtonPress) -> ButtonReply:
    result = await record_press(
        press.database,
        key=press.key,
        platform=press.platform,
        platform_user_id=press.person.platform_user_id,
        now=press.now,
        community_external_id=press.community.external_id if press.community else None,
    )
    # A pick needs no message: the pressed button shows it.
    text = () if result.status is PressStatus.PICKED else (Outgoing(result.text),)
    return ButtonReply(plain=text, pick=result)


async def answer_forget(press: ButtonPress) -> ButtonReply:
    external_id = forget_button_request(press.key, now=press.now)
    if external_id is None:
        return ButtonReply(private=forget_refusal_text(press.key))
    community = CommunityRef(press.platform, external_id, "")
    report = await forget(press.database, community, press.person.platform_user_id, now=press.now)
    return ButtonReply(private=report.text())


def _plain_answer(record: Callable[..., Awaitable[list[Outgoing]]]) -> ButtonHandler:
    """A route whose use case stores the press and answers with plain DM texts (legitimacy, value checks,
    vote reasons)."""

    async def answer(press: ButtonPress) -> ButtonReply:
        replies = await record(
            press.database,
            key=press.key,
            platform=press.platform,
            platform_user_id=press.person.platform_user_id,
            now=press.now,
        )
        return ButtonReply(plain=tuple(replies))

    return answer


async def answer_dm_vote(press: ButtonPress) -> ButtonReply:
    replies = await answer_vote_button(
        press.database,
        key=press.key,
        platform=press.platform,
        platform_user_id=press.person.platform_user_id,
        event_id=press.event_id,
        now=press.now,
    )
    return ButtonReply(plain=tuple(replies))


async def answer_poll(press: ButtonPress) -> ButtonReply:
    if press.community is None or press.message is None:
        return ButtonReply(private=STALE_BUTTON_TEXT)
    vote = PollPress(
        key=press.key,
        community=press.community,
        channel_id=press.message.channel_id,
        message_id=press.message.message_id,
        person=press.person,
        event_id=press.event_id,
        now=press.now,
        event_order=press.event_order,
        facts=press.facts,
    )
    return ButtonReply(private=await vote_by_button(press.database, vote))


async def answer_interview(press: ButtonPress) -> ButtonReply:
    assert press.community is not None, "the adapter finds the community for this route"
    message = InboundMessage(
        community=press.community, author=press.person, text=press.key, event_id=press.event_id, is_choice=True
    )
    return ButtonReply(messages=tuple(await press.interviews.handle(message)))


ROUTES: tuple[ButtonRoute, ...] = (
    ButtonRoute("generalization", is_generalization_key, answer_generalization, several_per_message=True),
    ButtonRoute("forget", lambda key: key.startswith(FORGET_KEY_PREFIX), answer_forget, exclusive=True),
    ButtonRoute("legitimacy", is_legitimacy_key, _plain_answer(record_answer)),
    ButtonRoute("value check", is_value_check_key, _plain_answer(record_check_answer), exclusive=True),
    ButtonRoute("reason", is_reason_key, _plain_answer(answer_reason_button)),
    ButtonRoute("dm vote", is_vote_key, answer_dm_vote),
    ButtonRoute("poll", is_poll_key, answer_poll, in_channel=True),
    ButtonRoute("interview", lambda key: True, answer_interview, needs_community=True, exclusive=True),
)


def route_for(key: str) -> ButtonRoute:
    """The route that answers a press on the button with ``key`` (the interview when no other claims it)."""
    return next(route for route in ROUTES if route.matches(key))
