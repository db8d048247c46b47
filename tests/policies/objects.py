"""Resource inputs for policy tests: a compliant GKE stack, broken one field at a time."""

from typing import Any

import yaml

CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
DIGEST = "sha256:" + "ab" * 32


def agent_config(**values: Any) -> str:
    document: dict[str, Any] = {
        "nonMasqueradeCIDRs": ["10.0.0.0/20", "10.4.0.0/14", "10.8.0.0/20", "10.12.0.0/16"],
        "masqLinkLocal": False,
        "resyncInterval": "60s",
    }
    document.update(values)
    return yaml.safe_dump(document)


def configmap(config: str | None = None, **metadata: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ip-masq-agent", "namespace": "kube-system", **metadata},
        "data": {"config": agent_config() if config is None else config},
    }
    return props


def daemonset() -> dict[str, Any]:
    container = {
        "name": "ip-masq-agent",
        "image": f"europe-docker.pkg.dev/p/agents/ip-masq-agent@{DIGEST}",
        "args": ["--masq-chain=IP-MASQ", "--backend=nftables"],
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
        },
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "100m", "memory": "96Mi"},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/config", "readOnly": True},
            {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "ip-masq-agent", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "ip-masq-agent"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "ip-masq-agent"}},
                "spec": {
                    "hostNetwork": True,
                    "automountServiceAccountToken": False,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "ip-masq-agent"}},
                        {
                            "name": "xtables-lock",
                            "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
                        },
                    ],
                },
            },
        },
    }


def unrelated_daemonset() -> dict[str, Any]:
    """A logging agent: privileged, unpinned, nothing to do with ip-masq-agent."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "fluentd", "namespace": "logging", "labels": {"app": "fluentd"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "fluentd",
                            "image": "fluentd:latest",
                            "securityContext": {"privileged": True},
                        }
                    ],
                    "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}],
                }
            }
        },
    }


def subnetwork() -> dict[str, Any]:
    return {
        "name": "dev-nodes",
        "network": "dev-vpc",
        "region": "europe-west1",
        "ipCidrRange": "10.0.0.0/20",
        "secondaryIpRanges": [
            {"rangeName": "pods", "ipCidrRange": "10.4.0.0/14"},
            {"rangeName": "services", "ipCidrRange": "10.8.0.0/20"},
            {"rangeName": "pods-extra", "ipCidrRange": "10.12.0.0/16"},
        ],
    }


def cluster() -> dict[str, Any]:
    return {
        "name": "dev-gke",
        "network": "dev-vpc",
        "subnetwork": "projects/p/regions/europe-west1/subnetworks/dev-nodes",
        "ipAllocationPolicy": {
            "clusterSecondaryRangeName": "pods",
            "servicesSecondaryRangeName": "services",
            "additionalPodRangesConfig": {"podRangeNames": ["pods-extra"]},
        },
        "privateClusterConfig": {"masterIpv4CidrBlock": "172.16.0.0/28"},
    }


def node_pool() -> dict[str, Any]:
    return {"name": "extra", "cluster": "dev-gke", "networkConfig": {"podRange": "pods-extra"}}


def gke_stack() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (SUBNETWORK, "subnet", subnetwork()),
        (CLUSTER, "cluster", cluster()),
        (NODE_POOL, "pool", node_pool()),
        (CONFIGMAP, "ip-masq-config", configmap()),
        (DAEMONSET, "ip-masq-agent", daemonset()),
    ]
