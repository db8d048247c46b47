"""The EgressNATPolicy that holds the list on GKE Autopilot, where nothing of ours runs."""

from collections.abc import Mapping, Sequence
from typing import Final

import pulumi
import pulumi_kubernetes as k8s

# GKE's documented custom resource for Autopilot's masquerading (requires Dataplane V2).
EGRESS_NAT_API_VERSION: Final = "networking.gke.io/v1"
EGRESS_NAT_KIND: Final = "EgressNATPolicy"
# Ours, not `default` (GKE creates and keeps that one; users edit it by hand) and not a
# `gke-` name (GKE's own fixed policy): see README "GKE Autopilot".
EGRESS_NAT_POLICY_NAME: Final = "ip-masq-agent-derived"


def register_egress_nat_policy(
    name: str,
    cidrs: pulumi.Input[Sequence[str]],
    *,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
) -> k8s.apiextensions.CustomResource:
    """The one cluster-scoped EgressNATPolicy this component owns: NoSNAT to every range."""
    return k8s.apiextensions.CustomResource(
        f"{name}-egress-nat",
        api_version=EGRESS_NAT_API_VERSION,
        kind=EGRESS_NAT_KIND,
        metadata={"name": EGRESS_NAT_POLICY_NAME, "labels": dict(labels)},
        spec=pulumi.Output.from_input(cidrs).apply(
            lambda c: {"action": "NoSNAT", "destinations": [{"cidr": cidr} for cidr in c]}
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
