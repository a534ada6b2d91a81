"""The webhook ingest server (`wafleet-runner ingest`): vendor webhooks in, events out.

`server.py` holds the routes (verify, normalise, hand over), `secrets.py`
where each pool's webhook secrets come from, `main.py` the wiring from
`IngestSettings` (ledger, events topic, file secrets, probes).
"""
