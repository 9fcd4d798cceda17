"""SQLModel tables. Every row belongs to one community (a Discord guild, a Slack workspace, the console).

Alembic migrations in ``storage/migrations`` create these tables; change both together
(``alembic revision --autogenerate`` then review).

A surrogate key is typed ``id: int`` with a ``None`` default: it is None only from constructing a row until
the session flushes it, and every row the code reads back has one (``int | None`` would make each use
prove it again).
"""

from storage.models.communities import (
    Community,
    DmRoute,
    EligibilityRule,
    InboundEvent,
    Member,
    MemberFacts,
    MemberLease,
)
from storage.models.interviews import Interview, InterviewTurn, LLMCall, Scenario, ValuesCardRecord
from storage.models.legitimacy import (
    FairPositionAsk,
    GeneralizationImpression,
    GeneralizationOffer,
    IdeologyRating,
    LegitimacyOptOut,
    SurveyAnswer,
    SurveyOffer,
)
from storage.models.member_texts import MemberTextTranslation
from storage.models.operations import CommunitySchedule, JobRun, JobStatus, ModerationAction
from storage.models.polls import Poll, PollReaction, ReactionEvent, Vote, VoteReasonAsk, VoteReasonOptOut
from storage.models.stories import MoralContext, ScenarioContext, TransitionStory
from storage.models.types import UTCDateTime, table_of
from storage.models.values import CanonicalValue, DedupQueueEntry, EmbeddingCache, ValueAssignment, ValueCheck

__all__ = [
    "CanonicalValue",
    "Community",
    "CommunitySchedule",
    "DmRoute",
    "EligibilityRule",
    "EmbeddingCache",
    "FairPositionAsk",
    "GeneralizationImpression",
    "GeneralizationOffer",
    "IdeologyRating",
    "InboundEvent",
    "Interview",
    "InterviewTurn",
    "JobRun",
    "JobStatus",
    "LLMCall",
    "LegitimacyOptOut",
    "Member",
    "MemberFacts",
    "MemberLease",
    "MemberTextTranslation",
    "ModerationAction",
    "MoralContext",
    "Poll",
    "PollReaction",
    "ReactionEvent",
    "Scenario",
    "ScenarioContext",
    "SurveyAnswer",
    "SurveyOffer",
    "TransitionStory",
    "UTCDateTime",
    "ValueAssignment",
    "ValueCheck",
    "DedupQueueEntry",
    "ValuesCardRecord",
    "Vote",
    "VoteReasonAsk",
    "VoteReasonOptOut",
    "table_of",
]
