"""Values: members' confirmed cards, placed into the community's canonical values (deduplication, corrections,
provenance) and what a member can see of their own."""
