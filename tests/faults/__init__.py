"""Randomized fault trials for the session runner's lease (issue 5, point 9).

Three real runner processes compete for one account's lease while a seeded
schedule of faults (API latency, 409s, 500s, timeouts, dropped requests and
responses, SIGSTOP pauses longer than the lease, SIGKILL + restart, wall-clock
jumps) hits them; the local engine's activity log, on the system-wide
monotonic clock, then says whether two sessions ever overlapped.
"""
