"""What the interviewer says to a member in its own words (not the model's): the consent notice, thanks,
questions about a card, and the texts for coming back or for a button that belongs to an earlier
message. Kept apart from the service so that wording can be read and changed in one place."""

from __future__ import annotations

from bot.values.languages import member_card
from core.interview import Effect
from core.llm import LLMError, LLMErrorKind
from storage.models import ValuesCardRecord

THANKS = (
    "Thank you for taking part! Other members will later vote on how values relate; send me a message "
    "any time to start another interview."
)
VALUE_CHECK_QUESTION = (
    "Another member described what looks like the same value. Does this card also capture what you care about?"
)
STALE_BUTTON = "That button belongs to an earlier message, so I didn't act on it."
PICK_AN_OPTION = "Please pick one of the options, by number or by name.\n\n"
CHOOSE_SCENARIO = "Which question would you like to think about?"
NO_SCENARIO = "There is no open question to discuss right now. A moderator can open one; try again later."
CARD_HEADING = "Thank you. Here is your card, written from the list you checked. Does it capture what you care about?"
REVISED_CARD_HEADING = "Here is the revised card. Does it capture what you care about now?"
CARD_AGAIN = "Does this card capture what you care about?"
CANCELLED = "Interview cancelled. Send me any message to start a new one."
NO_CONSENT = "No problem, nothing more will be asked. Send me a message if you change your mind."
STARTING_OVER = "Starting over."
AGREED_VALUE = "Thank you. Your card now counts toward that shared value."
KEPT_SEPARATE = "Understood: your card stays a value of its own."

CONSENT_NOTICE = (
    "Hi! I'm the Moral Graph Bot. I'd like to interview you about what you value when facing a hard "
    "question, so your community can find out which values it considers wisest.\n\n"
    "What is stored: this conversation word for word, the values card you confirm, your answer if I ask "
    "whether a shared value represents you, which other values you pick as wise for your question, and "
    "(later) your votes on story polls, all linked to your account in this community only. The language "
    "model also rates your first answer from 1 to 5 for how much it echoes slogans, a statistic for "
    "moderators that never changes how you take part. Your words are sent to the language model service "
    "this bot is configured with.\n\n"
    "Who sees what: other members see values cards and stories without your name, and vote totals "
    "without names; moderators can also read cards and statistics; the bot's operator can access "
    "everything stored.\n\n"
    "Your data stays yours: `/mge mydata` sends you a file with all of it, and `/mge forget` erases it "
    "(your votes then stay counted, anonymously). Type 'cancel' at any time to stop.\n\n"
    "Do you agree to take part?"
)


def welcome_back(*, ask: bool = True) -> str:
    text = "Welcome back! It has been a while since we last talked."
    return text + (" Shall we continue where we left off, or start over?" if ask else "")


def revision_question() -> str:
    return (
        "What would you like to change about the card? Tell me in your own words, "
        "or type 'confirm' to keep it as it is."
    )


def saved_text(card: ValuesCardRecord | None) -> str:
    return f"Your values card \u201c{member_card(card).title}\u201d is saved." if card else "Your values card is saved."


def closing_note(card: ValuesCardRecord) -> str:
    """After a confirmed card: what the member finds meaningful is where they are likely wise (the paper's
    reading of a values card). A template, so it can never fail or drift from the card."""
    shown = member_card(card)  # the member's language, as the rest of what they are shown
    first = shown.policies[0] if shown.policies else shown.title
    return (
        f"One more thought: what you pay attention to here, like \u201c{first}\u201d, is what you find "
        "meaningful in choices like this, and that is where you are likely to be wise: you notice what "
        "others may walk past. That is what your card brings to your community."
    )


def llm_failure_text(error: LLMError, effect: Effect) -> str:
    """What a member is told when a model step failed: what went wrong, and that nothing is lost."""
    what = error.member_text
    if error.kind is LLMErrorKind.INVALID_OUTPUT and effect in (Effect.PROPOSE_CARD, Effect.REVISE_CARD):
        what = "I couldn't turn our conversation into a valid values card this time."
    elif error.kind is LLMErrorKind.CONFIGURATION:
        return f"{what} Please tell the bot's operator. Your message is saved."
    return f"{what} Your message is saved, nothing is lost. Send 'retry' to try again."
