"""Generalization picks: after confirming a card, which other values a member would call wise to consider."""
