"""Asking the community's moral graph a question."""
