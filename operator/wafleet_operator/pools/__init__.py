"""SenderPools, one file per concern (as for accounts): `validation.py` (what the schema
cannot reject), `status.py` (pure: facts → conditions), `reconcile.py` (the I/O shell:
queues, children, scaling, status), `deletion.py` (the finalizer's AWS cleanup)."""
