"""Where the runner's blocking boto3 calls run: the event loop's default executor.

Every AWS call goes through `asyncio.to_thread`, so the default executor's
width is how many can be out at once. asyncio's default (cores + 4: six on two
cores) queued a role's calls behind each other and behind long-polling
receives that hold a thread for up to 20 s; each role sizes it for its own
calls in flight (`sender.main.aws_threads`, `dispatcher.main.aws_threads`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor


def use_aws_threads(threads: int) -> None:
    """Make the running loop's default executor `threads` wide."""
    executor = ThreadPoolExecutor(threads, thread_name_prefix="aws")
    asyncio.get_running_loop().set_default_executor(executor)
