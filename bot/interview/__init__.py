"""The interview: a member's DMs become a values card (the state machine in core.interview, run and saved here),
which community a DM belongs to, and the scenarios asked about."""
