"""The weekly digest: prepared from the graph and posted on schedule or on request."""
