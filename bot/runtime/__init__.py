"""Running the bot: settings, wiring (the composition root), the runner, the scheduler and its jobs, leases,
maintenance, community schedules."""
