"""``mge eval``: grading interviews on the nine criteria of docs/method.md §3 — stored ones, or ones played by
simulated members against the real interviewer — and comparing a run with a saved one."""
