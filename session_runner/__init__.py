"""The processes that run inside wafleet's pods: session runner, sender, dispatcher, API, CLI."""

__version__ = "0.1.0"
