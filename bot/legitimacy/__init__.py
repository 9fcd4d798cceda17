"""Legitimacy checks: the fair-position question after each digest and the follow-up survey."""
