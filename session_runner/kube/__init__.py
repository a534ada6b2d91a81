"""A small Kubernetes REST client for the runner, on aiohttp.

The runner needs four calls (get, create and patch its Lease; patch its
account's status; get its account). The generated kubernetes_asyncio client
loads every API group's models at import, ~37 MB of the runner's 80 MB budget;
this client is a thin layer over aiohttp, which the runner loads anyway.
"""

from session_runner.kube.client import KubeApiError, KubeClient
from session_runner.kube.connection import Connection, KubeConfigError, load_connection

__all__ = ["Connection", "KubeApiError", "KubeClient", "KubeConfigError", "load_connection"]
