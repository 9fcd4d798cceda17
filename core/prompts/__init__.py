"""Prompts are files in this folder, versioned by the hash of their text.

Whatever an LLM produced is stored with the hash of the prompt that produced it (and the model), so a
card, a story or a digest can always be traced to the exact instructions behind it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    template: str

    @property
    def sha(self) -> str:
        """First 12 hex digits of the SHA-256 of the template text."""
        return hashlib.sha256(self.template.encode()).hexdigest()[:12]

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.template))

    def render(self, **values: str) -> str:
        """Fill ``{name}`` placeholders. Values are inserted verbatim, never re-interpreted."""
        missing = self.placeholders - values.keys()
        if missing:
            raise KeyError(f"prompt {self.name!r} needs {sorted(missing)}")
        return _PLACEHOLDER.sub(lambda m: values[m[1]], self.template)


@cache
def load_prompt(name: str) -> Prompt:
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Prompt(name, text)


def combined_sha(*prompts: Prompt) -> str:
    """One hash for an output produced by several prompt files together (e.g. articulation + revision)."""
    if len(prompts) == 1:
        return prompts[0].sha
    return hashlib.sha256("\n".join(p.sha for p in prompts).encode()).hexdigest()[:12]
