"""The component provider: every exported component, hosted for other languages' SDKs."""

import json
import sys
from typing import Any, Final

import pulumi

from pulumi_ip_masq_agent._version import __version__
from pulumi_ip_masq_agent.agent_image import AgentImage
from pulumi_ip_masq_agent.gke_cluster import GkeCluster
from pulumi_ip_masq_agent.gke_ip_masq_agent import GkeIpMasqAgent
from pulumi_ip_masq_agent.gke_network import GkeNetwork
from pulumi_ip_masq_agent.ip_masq_agent import IpMasqAgent
from pulumi_ip_masq_agent.pulumi_sdk import ComponentProvider, component_provider_host

# The package name in every type token (`ip-masq-agent:index:IpMasqAgent`).
PACKAGE_NAME: Final = "ip-masq-agent"
COMPONENTS: Final[list[type[pulumi.ComponentResource]]] = [
    IpMasqAgent,
    GkeIpMasqAgent,
    GkeNetwork,
    GkeCluster,
    AgentImage,
]


def provider() -> ComponentProvider:
    """The provider the host serves, with the schema inferred from the components' types."""
    return ComponentProvider(COMPONENTS, PACKAGE_NAME, None, __version__)


def schema() -> dict[str, Any]:
    """The package schema, as `pulumi package get-schema` would print it."""
    loaded: dict[str, Any] = json.loads(provider().schema or "{}")
    return loaded


def main() -> None:
    """Serve the components (the Pulumi engine starts this; it prints the port it listens on)."""
    component_provider_host(COMPONENTS, PACKAGE_NAME, version=__version__)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--schema"]:
        print(json.dumps(schema(), indent=2, sort_keys=True))
    else:
        main()
