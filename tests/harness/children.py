"""Child processes that die with the process that started them.

A benchmark or test killed from outside (a CI timeout, ^C to `make bench`
reaching only the Python process) would otherwise leave its moto server and
sender replicas running, competing with whatever runs next for two cores.
`setpriv --pdeathsig KILL` (util-linux, on every Debian) asks the kernel to
SIGKILL the child when its parent goes.

The kernel fires this when the *thread* that started the child exits: start
such children from a thread that lives as long as they should (the main
thread, as the outbound trial does).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence


def dies_with_parent(command: Sequence[str]) -> list[str]:
    """`command`, run so that it is killed when its parent dies (as is, without setpriv)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(command)
    return [setpriv, "--pdeathsig", "KILL", "--", *command]
