"""masq-link-local over hand-built ConfigMaps."""

import pytest

from pulumi_ip_masq_agent.policy.masq_link_local import validate_masq_link_local
from pulumi_ip_masq_agent.policy.preview_unknowns import CannotCheckUntilDeployedError
from tests.policies.objects import CONFIGMAP, agent_config, configmap
from tests.policies.policy_args import UNKNOWN, run_resource


def check(config: str) -> list[str]:
    return run_resource(validate_masq_link_local, CONFIGMAP, configmap(config), name="cm")


def test_default_does_not_masquerade_link_local() -> None:
    assert check(agent_config()) == []


def test_masq_link_local_is_flagged_with_why() -> None:
    [violation] = check(agent_config(masqLinkLocal=True))
    assert "ConfigMap kube-system/ip-masq-agent (cm)" in violation
    assert "masqLinkLocal is true" in violation
    assert "169.254.169.254" in violation


def test_masq_link_local_ipv6_is_flagged() -> None:
    [violation] = check(agent_config(masqLinkLocalIPv6=True))
    assert "masqLinkLocalIPv6 is true" in violation


def test_unparseable_config_is_left_to_config_valid() -> None:
    assert check("masqLinkLocal: maybe") == []


def test_unknown_config_cannot_be_checked() -> None:
    with pytest.raises(CannotCheckUntilDeployedError, match=r"data\.config"):
        check(UNKNOWN)
