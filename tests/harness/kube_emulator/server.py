"""The HTTP face of the emulator: Kubernetes REST paths over aiohttp.

Turns requests into store calls and store answers into the JSON a real API
server sends (201 on create, Status bodies on errors, List objects with
kind/apiVersion/metadata.resourceVersion, chunked watch streams of
`{"type", "object"}` lines). Fault injection is applied before routing, so a
test can make any request fail however it likes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import discovery, openapi, routing, tables
from .errors import ApiError, bad_request, generic, method_not_allowed, no_such_route
from .faults import Faults
from .patch import decode_body
from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector
from .store import ObjectStore
from .watch import BOOKMARK, ERROR, Watcher

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# Deleting these returns the object; other built-ins answer a Status (as real).
_RETURNS_DELETED_OBJECT = frozenset({("", "pods"), ("", "namespaces")})


@dataclass
class EmulatorSettings:
    """Knobs a test may change while the server runs (read per request)."""

    # Seconds between BOOKMARK events on watches with allowWatchBookmarks=true
    # (a real server sends one about every minute).
    bookmark_interval: float = 1.0


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered (status -1: the connection was dropped)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    user_agent: str = ""


class _DroppedError(Exception):
    """A fault rule closed the connection: no response must be written."""


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def _json(body: Obj, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )


class ApiServer:
    """Request handling for one emulator instance."""

    def __init__(self, store: ObjectStore, faults: Faults, settings: EmulatorSettings) -> None:
        self.store = store
        self.registry = store.registry
        self.faults = faults
        self.settings = settings
        self.requests: deque[RequestRecord] = deque(maxlen=10_000)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        status = 0
        try:
            response = await self._faulted_or_served(request)
            status = response.status
            return response
        except _DroppedError:
            status = -1
            # Nothing reaches the client: the transport is already aborted.
            return web.Response(status=204)
        finally:
            self.requests.append(
                RequestRecord(
                    request.method,
                    request.path,
                    dict(request.query),
                    status,
                    request.headers.get("User-Agent", ""),
                )
            )

    async def _faulted_or_served(self, request: web.Request) -> web.StreamResponse:
        try:
            rule = self.faults.take(request.method, request.path)
            if rule is not None:
                if rule.delay:
                    await asyncio.sleep(rule.delay)
                if rule.drop:
                    if request.transport is not None:
                        request.transport.abort()
                    raise _DroppedError()
                if rule.status is not None:
                    raise generic(rule.status, rule.message)
            return await self._serve(request)
        except ApiError as err:
            return _json(err.status(), err.code)
        except (_DroppedError, ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:
            # An emulator bug: answer like a real server's 500 and log the traceback.
            log.exception("kube emulator failed on %s %s", request.method, request.path_qs)
            return _json(generic(500, f"emulator error: {exc!r}").status(), 500)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        target = routing.parse(request.path, self.registry)
        if isinstance(target, routing.Discovery):
            if request.method != "GET":
                raise method_not_allowed()
            return _json(self._discovery(target, request))
        rt, ns, name, query = target.rt, target.namespace, target.name, request.query
        dry_run = bool(query.get("dryRun"))
        strict = query.get("fieldValidation") == "Strict"
        method = request.method
        if method == "GET":
            if target.watch or _truthy(query.get("watch")):
                return await self._watch(request, target)
            if name is None:
                return self._list(request, rt, ns)
            found = self.store.get(rt, ns, name)
            if "as=Table" in request.headers.get("Accept", ""):
                rv = str(found["metadata"].get("resourceVersion", ""))
                return _json(tables.table(rt, [found], rv, request.query.get("includeObject", "")))
            return _json(found)
        if method == "POST":
            if name is not None or (rt.namespaced and ns is None):
                raise method_not_allowed()
            body = await self._body(request)
            return _json(self.store.create(rt, ns, body, dry_run=dry_run, strict=strict), 201)
        if method == "DELETE":
            return await self._delete(request, rt, ns, name)
        if name is None:
            raise method_not_allowed()
        if method == "PUT":
            obj, created = self.store.replace(
                rt,
                ns,
                name,
                await self._body(request),
                subresource=target.subresource,
                dry_run=dry_run,
                strict=strict,
            )
            return _json(obj, 201 if created else 200)
        if method == "PATCH":
            content_type = self._content_type(request)
            patch = decode_body(await request.read(), content_type)
            obj, created = self.store.patch(
                rt,
                ns,
                name,
                content_type,
                patch,
                subresource=target.subresource,
                field_manager=query.get("fieldManager"),
                dry_run=dry_run,
                strict=strict,
            )
            return _json(obj, 201 if created else 200)
        raise method_not_allowed()

    # ------------------------------------------------------------- helpers

    @staticmethod
    def _content_type(request: web.Request) -> str:
        # aiohttp reports application/octet-stream when the header is absent.
        return request.content_type if "Content-Type" in request.headers else ""

    async def _body(self, request: web.Request) -> Any:
        return decode_body(await request.read(), self._content_type(request))

    def _discovery(self, target: routing.Discovery, request: web.Request) -> Obj:
        found: Obj | None
        if target.what == "version":
            found = dict(discovery.SERVER_VERSION)
        elif target.what == "api":
            found = discovery.api_versions(request.host)
        elif target.what == "apis":
            found = discovery.api_group_list(self.registry)
        elif target.what == "group":
            found = discovery.api_group(self.registry, target.group)
        elif target.what == "resources":
            found = discovery.api_resource_list(self.registry, target.group, target.version)
        elif target.what == "openapi/v3":
            found = openapi.index(self.registry)
        elif target.what == "openapi/v3/gv":
            found = openapi.group_version(self.registry, target.group, target.version)
        else:  # openapi/v2: kubectl wants protobuf, so it only ever gets here if v3 failed
            found = None
        if found is None:
            raise no_such_route()
        return found

    def _selectors(
        self, request: web.Request, rt: ResourceType
    ) -> tuple[LabelSelector, FieldSelector]:
        labels = LabelSelector.parse(request.query.get("labelSelector"))
        fields = FieldSelector.parse(request.query.get("fieldSelector"), rt.field_selectors)
        return labels, fields

    def _list(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
        labels, fields = self._selectors(request, rt)
        limit = request.query.get("limit")
        try:
            result = self.store.list_objects(
                rt,
                namespace,
                labels,
                fields,
                limit=int(limit) if limit else None,
                continue_token=request.query.get("continue"),
            )
        except ValueError:
            raise bad_request(f"invalid limit: {limit!r}") from None
        if "as=Table" in request.headers.get("Accept", ""):
            return _json(
                tables.table(
                    rt,
                    result.items,
                    result.resource_version,
                    request.query.get("includeObject", ""),
                )
            )
        meta: Obj = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
            meta["remainingItemCount"] = result.remaining
        return _json(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": result.items,
            }
        )

    async def _delete(
        self, request: web.Request, rt: ResourceType, namespace: str | None, name: str | None
    ) -> web.Response:
        raw = await request.read()
        options = decode_body(raw, "application/json") if raw.strip() else {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be an object")
        query = request.query
        propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
        orphan = query.get("orphanDependents", options.get("orphanDependents"))
        if propagation is None and orphan is not None:
            propagation = "Orphan" if orphan in (True, "true") else "Background"
        if name is None:
            labels, fields = self._selectors(request, rt)
            deleted = self.store.delete_collection(
                rt, namespace, labels, fields, propagation=propagation
            )
            meta = {"resourceVersion": self.store.resource_version}
            return _json(
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version,
                    "metadata": meta,
                    "items": deleted,
                }
            )
        obj, removed = self.store.delete(
            rt,
            namespace,
            name,
            propagation=propagation,
            preconditions=options.get("preconditions"),
            dry_run=bool(query.get("dryRun") or options.get("dryRun")),
        )
        if removed and not rt.custom and rt.storage_key not in _RETURNS_DELETED_OBJECT:
            details: Obj = {"name": name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
            if rt.group:
                details["group"] = rt.group
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        return _json(obj)

    # --------------------------------------------------------------- watch

    async def _watch(
        self, request: web.Request, target: routing.ResourcePath
    ) -> web.StreamResponse:
        rt, query = target.rt, request.query
        labels, fields = self._selectors(request, rt)
        if target.name is not None:
            fields = FieldSelector.parse(
                ",".join(filter(None, [fields.source, f"metadata.name={target.name}"])),
                rt.field_selectors,
            )
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = _truthy(query.get("allowWatchBookmarks"))
        initial_end = _truthy(query.get("sendInitialEvents"))
        since = None if initial_end else query.get("resourceVersion")

        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(wake.set)

        watcher = Watcher(rt.storage_key, target.namespace, labels, fields, notify)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            initial = self.store.start_watch(rt, watcher, since)
        except ApiError as err:
            if err.code != 410:
                raise
            await response.prepare(request)
            await self._send(response, ERROR, err.status())
            return response
        try:
            await response.prepare(request)
            for kind, obj in initial:
                await self._send(response, kind, self.store.present(rt, obj))
            if initial_end and bookmarks:
                await self._bookmark(response, rt, self.store.resource_version, initial_end=True)
            await self._stream(response, rt, watcher, wake, timeout, bookmarks)
        except ConnectionError:
            pass  # the client went away
        finally:
            self.store.stop_watch(watcher)
        return response

    async def _stream(
        self,
        response: web.StreamResponse,
        rt: ResourceType,
        watcher: Watcher,
        wake: asyncio.Event,
        timeout_seconds: float | None,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds if timeout_seconds is not None else None
        next_bookmark = loop.time() + self.settings.bookmark_interval
        while not watcher.closed:
            wake.clear()
            for kind, obj in watcher.take():
                await self._send(response, kind, self.store.present(rt, obj))
            now = loop.time()
            if deadline is not None and now >= deadline:
                return
            if bookmarks and now >= next_bookmark:
                version = self.store.bookmark_version(watcher)
                if version is not None:
                    await self._bookmark(response, rt, version)
                next_bookmark = now + self.settings.bookmark_interval
            waits = [
                t - now for t in (deadline, next_bookmark if bookmarks else None) if t is not None
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(0.0, min(waits)) if waits else None)

    @staticmethod
    async def _send(response: web.StreamResponse, kind: str, obj: Obj) -> None:
        await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

    async def _bookmark(
        self,
        response: web.StreamResponse,
        rt: ResourceType,
        version: str,
        *,
        initial_end: bool = False,
    ) -> None:
        meta: Obj = {"resourceVersion": version}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        await self._send(
            response, BOOKMARK, {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        )
