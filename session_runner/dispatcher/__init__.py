"""The webhook dispatcher: every event, to every live subscriber that wants it, signed.

    events topic ─► <prefix>-events-dispatcher (SQS) ─► `wafleet-runner dispatcher`
        routing        which WebhookSubscriptions want an event (pure)
        signing        Standard Webhooks headers (the reference library signs)
        url_safety     no deliveries to loopback, private or metadata addresses
        attempt        one POST, bounded in time and in what is read back
        retry_decision what an attempt's answer means: done, retry when, or switch off (pure)
        failure_window the sliding 24 h count that tombstones a dead subscriber (pure)

Decisions are pure functions with table tests; the modules around them only do I/O.
"""
