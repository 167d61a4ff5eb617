"""The README's shell examples are meant to be pasted as they are."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
_SINGLE_QUOTED = re.compile(r"'[^']*'")
_SHELL_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*")


def test_shell_examples_do_not_quote_variables_away() -> None:
    # `-H 'Authorization: Bearer $KEY'` sends the five characters `$KEY`, not the key.
    blocks = _SH_BLOCK.findall(README.read_text(encoding="utf-8"))
    assert blocks
    offenders = [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if not line.lstrip().startswith("#")
        and any(_SHELL_VAR.search(q) for q in _SINGLE_QUOTED.findall(line))
    ]
    assert offenders == []
    for block in blocks:  # and every example is at least well-formed shell
        shlex.split(block.replace("\\\n", " "), comments=True)
