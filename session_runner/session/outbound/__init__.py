"""Sending a session pool's messages through the account's own WhatsApp session.

`decision` says when the runner consumes the pool's queue (only while it
leads with a running engine), `adapter` turns the engine's answers into the
sender's outcomes, and `consumer` runs the shared sender loop around them.
"""
