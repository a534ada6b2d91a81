"""The memory baseline benchmarks compare a process's PSS against: a bare Python interpreter."""

from __future__ import annotations

import subprocess
import sys
import time

from session_runner.procmem import pss_mb


def bare_python_pss() -> float:
    """PSS (MB) of an idle `python -c 'time.sleep'`: what any Python process costs here."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.5)
        return pss_mb([process.pid])
    finally:
        process.kill()
        process.wait()
