"""`wafleet-operator`: run the kopf operator in a cluster (in-cluster config) or against a kubeconfig."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from importlib.metadata import version

import kopf
from pydantic import ValidationError

from session_runner import logs
from wafleet_operator.config import OperatorSettings
from wafleet_operator.handlers import register


def settings_help() -> str:
    """One line per WAFLEET_* variable, from the settings class itself so it cannot drift."""
    lines = ["settings (environment variables; the chart sets them):"]
    for name, field in OperatorSettings.model_fields.items():
        note = f" {field.description}" if field.description else ""
        lines.append(f"  WAFLEET_{name.upper()} (default {field.default!r}).{note}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The operator is configured by WAFLEET_* variables (what the chart sets); flags only explain that."""
    parser = argparse.ArgumentParser(
        prog="wafleet-operator",
        description=(
            "Run the wafleet operator: in a cluster with its service account, or outside one "
            "with the current kubeconfig context."
        ),
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('wafleet')}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Load settings once, register the handlers with them, and run kopf until stopped."""
    parse_args(argv)
    try:
        settings = OperatorSettings()
    except ValidationError as error:
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"])
            print(f"wafleet-operator: WAFLEET_{field.upper()}: {item['msg']}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    registry = kopf.OperatorRegistry()
    register(registry, settings)
    namespaces = settings.namespaces
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    asyncio.run(
        kopf.operator(
            registry=registry,
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=not settings.peering,
            peering_name=settings.peering or None,
            # kopf pauses every replica that sees a live peer of equal priority; a random
            # one per process makes exactly one replica active and the rest standbys.
            priority=secrets.randbelow(2**31) + 1 if settings.peering else 0,
            liveness_endpoint=liveness,
            memo=kopf.Memo(),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
