"""The browser memory bench counts every process of an account once, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from bench.bench_engines import account_pids

# A parent with a child that has a grandchild, all sleeping; prints the three pids.
TREE = """
import subprocess, sys, time
grandchild_script = "import time; time.sleep(60)"
child_script = (
    "import subprocess, sys, time\\n"
    f"g = subprocess.Popen([sys.executable, '-c', {grandchild_script!r}])\\n"
    "print(g.pid, flush=True)\\n"
    "time.sleep(60)\\n"
)
child = subprocess.Popen([sys.executable, "-c", child_script], stdout=subprocess.PIPE, text=True)
grandchild = int(child.stdout.readline())
print(child.pid, grandchild, flush=True)
time.sleep(60)
"""


def test_the_whole_tree_once_and_no_bystander() -> None:
    root = subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert root.stdout is not None
        child, grandchild = (int(x) for x in root.stdout.readline().split())
        pids = account_pids(root.pid, None)
        assert pids == sorted({root.pid, child, grandchild})
        assert bystander.pid not in pids
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        bystander.kill()
        root.wait()
        bystander.wait()


def test_a_reparented_member_of_the_chromium_group_still_counts() -> None:
    """Chromium helpers re-parented to init are found through Chromium's process group."""
    group_leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "o = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "print(o.pid, flush=True)\n",  # exits at once: its child is re-parented
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert group_leader.stdout is not None
        orphan = int(group_leader.stdout.readline())
        group_leader.wait()  # exited: the kernel re-parented the orphan before reaping it
        pids = account_pids(runner.pid, chromium_pid=group_leader.pid)
        assert orphan in pids
        assert runner.pid in pids
        assert len(pids) == len(set(pids))
    finally:
        os.killpg(group_leader.pid, signal.SIGKILL)
        runner.kill()
        runner.wait()
