"""The webhook ingest server (`wafleet-runner ingest`): vendor webhooks in, events out.

`server.py` holds the routes (verify, normalise, hand over), `secrets.py` the
interface to each pool's webhook secrets, `kube_secrets.py` the provider that
reads them from the SenderPool's credentials Secret (what the chart deploys),
`topic.py` the events topic by name or ARN, `main.py` the wiring from
`IngestSettings` (ledger, events topic, secrets, probes).
"""
