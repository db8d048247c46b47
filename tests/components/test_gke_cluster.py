"""The kubeconfig the GKE cluster's provider uses: exec auth, no static credentials."""

import json

from pulumi_ip_masq_agent.gke_cluster import DATAPATH, kubeconfig


def test_kubeconfig_uses_the_gke_auth_plugin() -> None:
    document = json.loads(kubeconfig("dev", "203.0.113.10", "Q0E="))
    (cluster,) = document["clusters"]
    assert cluster["cluster"] == {
        "server": "https://203.0.113.10",
        "certificate-authority-data": "Q0E=",
    }
    (user,) = document["users"]
    assert set(user["user"]) == {"exec"}
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert document["current-context"] == "dev"
    assert document["contexts"][0]["context"] == {"cluster": "dev", "user": "gke"}


def test_datapath_per_dataplane() -> None:
    assert DATAPATH == {"legacy": "LEGACY_DATAPATH", "v2": "ADVANCED_DATAPATH"}
