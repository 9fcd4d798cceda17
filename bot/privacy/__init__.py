"""Members' control of their own data: what is stored about them (mydata) and erasure (forget)."""
