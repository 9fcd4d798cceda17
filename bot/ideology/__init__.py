"""The ideology screen: each interview's opening answer rated by the LLM, off the reply path."""
