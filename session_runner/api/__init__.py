"""The HTTP API: `wafleet-runner api` (FastAPI on uvicorn), one namespace per install.

Read in the order a request meets it:

- `main`: settings → clients (API keys, API server, SNS, DynamoDB, bulk service) → uvicorn,
  and /metrics on its own port; SIGTERM finishes the requests in flight.
- `app`: `build_app(context)`, the factory tests build on the real backends; problem
  handlers, the OpenAPI (`openapi`: every error as application/problem+json).
- `middleware`: metrics and last-resort 500s, API-key authentication (`keys`), body limits.
- `messages`, `accounts`, `bulk`: the routes, each a thin shell over pure decisions:
  `scope` (what a key may touch), `idempotency` (Idempotency-Key), `routing` (which pool
  takes a message), `message_state` (state and history from the ledger), `account_view`,
  `qr` (PNG and terminal text), `multipart` (an upload streamed, never held whole).
- `records` (the API's message records in DynamoDB), `problems` (RFC 9457 bodies),
  `unavailable` (503s, logged safely), `metrics`, `deps` (what routes are given).
"""
