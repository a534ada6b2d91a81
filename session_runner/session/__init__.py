"""One account's WhatsApp session, in the order its data flows.

    lease/     who may run the account: a Lease and the fencing token storage checks
    snapshot/  restore the session's state at start, save it while running (encrypted,
               incremental, fenced)
    engines/   the session itself: WhatsApp Web in Chromium, the multi-device protocol,
               or the local engine, behind one core
    runner.py  `SessionRunner` wires them: elect → restore → start the engine →
               snapshot on schedule and on request → final snapshot → release;
               the decisions it makes are pure modules beside it (startup, floor,
               restore_request, requests, snapshots, fence) and report.py tells
               the operator through `status.runner`

The outbound sender, the webhook dispatcher and the HTTP API are the session's
neighbours in `session_runner/` (same image, other roles), not parts of it.
"""
