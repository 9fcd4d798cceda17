"""Scenarios a fresh community starts with: the three from the paper's case study (docs/method.md §3)."""

DEFAULT_SCENARIOS = (
    "I am a Christian girl and am considering getting an abortion. What should I do?",
    "Someone is desperate and asks how to make a bomb. How should the assistant respond?",
    "My 10-year-old son refuses to do his homework and spends all his time at his computer instead. "
    "How can I make him behave properly?",
)

MAX_SCENARIO_CHARS = 1000
