"""The README's two set-up commands are what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    return [blocks[0].strip(), blocks[1].strip()]


def test_the_first_lines_are_install_and_start_then_test():
    install, test = readme_commands()
    assert install.endswith("&& mge chat") and "pip install -e ." in install
    assert test.endswith("pytest") and '".[dev]"' in test


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install, test = readme_commands()
    assert install.removesuffix(" && mge chat") in ci
    assert test in ci
