"""Bringing an existing deliberation in: the reference apps' tables, the published moral graph, our own export."""
