"""Custom resources are pruned, defaulted and validated against their CRD schema."""

from __future__ import annotations

from tests.harness.kube_emulator_fixture import EmulatorApi
from tests.harness_tests.kube_samples import (
    THERMOSTAT_CRD,
    THERMOSTATS,
    created,
    merge_patch,
    thermostat,
)

PHONE = "+4915112345678"


def test_unknown_fields_are_pruned_unless_preserved(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(THERMOSTAT_CRD)
    with kube_emulator.http() as http:
        body = thermostat(
            "t", phone=PHONE, bogus=1, extra={"anything": {"goes": True}}, tags={"a": "b"}
        )
        body["junk"] = "top-level"
        obj = created(http, THERMOSTATS, body)
    assert "bogus" not in obj["spec"]
    assert "junk" not in obj
    assert obj["spec"]["extra"] == {"anything": {"goes": True}}
    assert obj["spec"]["tags"] == {"a": "b"}


def test_defaults_are_filled_in_also_nested_and_on_update(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(THERMOSTAT_CRD)
    with kube_emulator.http() as http:
        obj = created(http, THERMOSTATS, thermostat("t", phone=PHONE, note=None))
        patched = merge_patch(
            http, f"{THERMOSTATS}/t", {"spec": {"mode": None, "limits": {"max": None}}}
        ).json()
    assert obj["spec"] == {
        "phone": PHONE,
        "mode": "heat",
        "target": 20,
        "limits": {"max": 30},
        "note": None,
    }
    assert patched["spec"]["mode"] == "heat"
    assert patched["spec"]["limits"] == {"max": 30}
    assert patched["metadata"]["generation"] == 1  # defaulting back to the same spec is no change


def test_schema_violations_are_422_with_one_cause_per_field(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(THERMOSTAT_CRD)
    with kube_emulator.http() as http:
        response = http.post(
            THERMOSTATS, json=thermostat("t", mode="freeze", target=1, limits={"max": "high"})
        )
        assert response.status_code == 422
        causes = {c["field"]: c for c in response.json()["details"]["causes"]}
        bad_phone = http.post(THERMOSTATS, json=thermostat("t", phone="12345"))
        assert bad_phone.status_code == 422
        assert http.get(THERMOSTATS).json()["items"] == []
    assert causes["spec.phone"]["reason"] == "FieldValueRequired"
    assert causes["spec.mode"]["reason"] == "FieldValueNotSupported"
    assert (
        causes["spec.mode"]["message"]
        == 'Unsupported value: "freeze": supported values: "heat", "cool"'
    )
    assert (
        causes["spec.target"]["message"]
        == "Invalid value: 1: spec.target in body should be greater than or equal to 5"
    )
    assert causes["spec.limits.max"]["reason"] == "FieldValueTypeInvalid"
    assert "should match" in bad_phone.json()["details"]["causes"][0]["message"]


def test_an_update_breaking_the_schema_is_refused(kube_emulator: EmulatorApi) -> None:
    kube_emulator.register_crd(THERMOSTAT_CRD)
    with kube_emulator.http() as http:
        before = created(http, THERMOSTATS, thermostat("t", phone=PHONE))
        response = merge_patch(http, f"{THERMOSTATS}/t", {"spec": {"target": 2}})
        after = http.get(f"{THERMOSTATS}/t").json()
    assert response.status_code == 422
    assert after == before


def test_strict_field_validation_refuses_unknown_fields(kube_emulator: EmulatorApi) -> None:
    """kubectl sends fieldValidation=Strict: an unknown field is an error instead of silently dropped."""
    kube_emulator.register_crd(THERMOSTAT_CRD)
    with kube_emulator.http() as http:
        body = thermostat("t", phone=PHONE, bogus=1, limits={"max": 3, "min": 1})
        response = http.post(THERMOSTATS, params={"fieldValidation": "Strict"}, json=body)
    assert response.status_code == 400
    assert response.json()["message"].endswith(
        'strict decoding error: unknown field "spec.bogus", unknown field "spec.limits.min"'
    )
