"""The real control plane the harness starts: real RBAC, TokenRequest, a namespace per test."""

from __future__ import annotations

from tests.harness.kube import KubeApi


def test_each_test_gets_its_own_namespace_and_the_kubeconfig_defaults_to_it(
    kube_api: KubeApi,
) -> None:
    with kube_api.http() as http:
        namespace = http.get(f"/api/v1/namespaces/{kube_api.namespace}").json()
    assert namespace["status"]["phase"] == "Active"
    assert f"namespace: {kube_api.namespace}" in kube_api.kubeconfig.read_text()


def test_a_service_account_token_carries_only_that_accounts_rbac(kube_api: KubeApi) -> None:
    ns = kube_api.namespace
    with kube_api.http() as admin:
        admin.post(
            f"/api/v1/namespaces/{ns}/serviceaccounts", json={"metadata": {"name": "reader"}}
        ).raise_for_status()
        admin.post(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
            json={
                "metadata": {"name": "read-configmaps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
            },
        ).raise_for_status()
        admin.post(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
            json={
                "metadata": {"name": "reader"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-configmaps",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
            },
        ).raise_for_status()
    token = kube_api.token_for("reader")
    with kube_api.http(token=token) as reader:
        assert reader.get(f"/api/v1/namespaces/{ns}/configmaps").status_code == 200
        assert reader.get(f"/api/v1/namespaces/{ns}/secrets").status_code == 403
        assert reader.get("/api/v1/namespaces/default/configmaps").status_code == 403
