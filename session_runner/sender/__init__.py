"""The outbound sender (`wafleet-runner sender`): one SenderPool's queue to its vendor.

The data flows: a producer (the CLI, later the HTTP API) publishes an
`OutboundMessage` to the one outbound SNS topic with the message attribute
`target`; the topic's filter policy routes it to the pool's SQS queue; a
sender replica long-polls the queue, claims the message in the ledger
(exactly once), waits for a slot of the pool-wide rate limiter, sends
through the vendor adapter, records the vendor's message id and deletes
the queue message.
"""
