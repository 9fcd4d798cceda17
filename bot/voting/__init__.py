"""Voting: transition-story polls, which story to put to a vote next, scheduled rounds, and reactions turned into
votes through the vote inbox."""
