"""The moral graph of a community: built from its votes, exported (JSON, GraphML, CSV, the HTML explorer), and
built from files."""
