"""Shared fixtures: each harness module starts one real part on 127.0.0.1."""

pytest_plugins = [
    "tests.harness.moto_server",
    "tests.harness.kube",
    "tests.harness.chromium",
    "tests.harness.vendor_standins",
]
