"""Server-side printing for a single object: `kubectl get KIND NAME` shows the printer columns."""

from __future__ import annotations

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import WIDGET_CRD, WIDGETS, widget

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def test_get_one_object_as_table_has_the_printer_columns(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(WIDGET_CRD)
    with kube_emulator.http() as http:
        assert http.post(WIDGETS, json=widget("w1")).status_code == 201
        one = http.get(f"{WIDGETS}/w1", headers={"Accept": TABLE}).json()
        listed = http.get(WIDGETS, headers={"Accept": TABLE}).json()
    assert one["kind"] == "Table"
    assert [c["name"] for c in one["columnDefinitions"]] == [
        c["name"] for c in listed["columnDefinitions"]
    ]
    assert len(one["columnDefinitions"]) > 2  # more than Name and Age: the CRD's columns
    assert one["rows"][0]["cells"][0] == "w1"
