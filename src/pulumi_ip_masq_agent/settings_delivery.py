"""What the stack provisions (`cluster`, `autopilot`, `dataplane`) and how the list reaches
the nodes (`platform`), with the deprecated keys' old meanings."""

from dataclasses import dataclass
from typing import Final, Literal

from pulumi_ip_masq_agent.platform import Platform, allowed_platforms
from pulumi_ip_masq_agent.settings_model import SettingsError
from pulumi_ip_masq_agent.settings_model import config_key as _key
from pulumi_ip_masq_agent.settings_reader import SettingsReader

CLUSTERS: Final = ("gke", "existing")


@dataclass(frozen=True)
class Delivery:
    """The cluster the stack provisions and the platform the list is delivered by."""

    cluster: Literal["gke", "existing"]
    autopilot: bool
    dataplane: Literal["legacy", "v2"]
    platform: Platform
    deprecations: tuple[str, ...]


def resolve_delivery(read: SettingsReader) -> Delivery:
    """What the program provisions (`cluster`, `autopilot`, `dataplane`) and how the list
    reaches the nodes (`platform`): the second follows from the first unless set, and then
    must agree with it. The old keys keep their meaning one release, with a note."""
    notes: list[str] = []
    cluster_text = read.text("cluster")
    platform_text = read.text("platform")
    if platform_text in CLUSTERS:
        # `platform` used to say what the program provisions; the values cannot be mistaken.
        if cluster_text and cluster_text != platform_text:
            raise SettingsError(
                f"{_key('platform')}: {platform_text!r} (its old meaning, now the cluster key) "
                f"contradicts cluster {cluster_text!r}"
            )
        notes.append(
            f"{_key('platform')}: {platform_text!r} is deprecated (the key now says how the list "
            f"reaches the nodes): set {_key('cluster')}: {platform_text} instead"
        )
        cluster_text, platform_text = cluster_text or platform_text, ""
    cluster = cluster_text or "gke"
    if cluster not in CLUSTERS:
        raise SettingsError(f"{_key('cluster')}: {cluster!r} is not one of {', '.join(CLUSTERS)}")
    autopilot = read.flag("autopilot")
    if autopilot and cluster != "gke":
        raise SettingsError(
            f"{_key('autopilot')}: true provisions an Autopilot cluster, only with cluster gke "
            "(for an existing Autopilot cluster set platform: gke-autopilot)"
        )
    dataplane_text = read.text("dataplane")
    if dataplane_text not in ("", "legacy", "v2"):
        raise SettingsError(f"{_key('dataplane')}: {dataplane_text!r} is not one of legacy, v2")
    if autopilot and dataplane_text == "legacy":
        raise SettingsError(
            f"{_key('dataplane')}: 'legacy' but autopilot is true (Autopilot runs Dataplane V2)"
        )
    # An existing cluster is described by the platform set for it (nothing here provisions it).
    v2_platform = platform_text in (Platform.GKE_DATAPLANE_V2, Platform.GKE_AUTOPILOT)
    described = cluster == "existing" and not dataplane_text and v2_platform
    dataplane: Literal["legacy", "v2"] = (
        "v2" if autopilot or dataplane_text == "v2" or described else "legacy"
    )
    deploy_agent = read.flag("deployAgent")
    if not deploy_agent:
        notes.append(
            f"{_key('deployAgent')}: false is deprecated: set {_key('platform')}: "
            f"{Platform.GKE_MANAGED_AGENT.value} (ConfigMap only, for GKE's own agent)"
        )
    if autopilot:
        implied = Platform.GKE_AUTOPILOT
    elif dataplane == "v2":
        implied = Platform.GKE_DATAPLANE_V2
    elif not deploy_agent:
        implied = Platform.GKE_MANAGED_AGENT
    else:
        implied = Platform.GKE_STANDARD
    if not platform_text:
        return Delivery(cluster, autopilot, dataplane, implied, tuple(notes))  # type: ignore[arg-type]
    if platform_text not in set(Platform):
        raise SettingsError(
            f"{_key('platform')}: {platform_text!r} is not one of {allowed_platforms()}"
        )
    platform = Platform(platform_text)
    conflict = _conflict(platform, cluster=cluster, autopilot=autopilot, dataplane=dataplane)
    if conflict is None and platform is Platform.GKE_STANDARD and not deploy_agent:
        conflict = "deployAgent: false (deprecated; it meant gke-managed-agent)"
    if conflict is not None:
        raise SettingsError(f"{_key('platform')}: {platform.value!r} contradicts {conflict}")
    return Delivery(cluster, autopilot, dataplane, platform, tuple(notes))  # type: ignore[arg-type]


def _conflict(platform: Platform, *, cluster: str, autopilot: bool, dataplane: str) -> str | None:
    """What about the cluster rules this platform out, if anything."""
    if autopilot and platform is not Platform.GKE_AUTOPILOT:
        return "autopilot: true (an Autopilot cluster takes only gke-autopilot)"
    if platform is Platform.GKE_AUTOPILOT:
        if cluster == "gke" and not autopilot:
            return "autopilot: false (the cluster this stack provisions is GKE Standard)"
        return None
    if dataplane == "v2" and platform is not Platform.GKE_DATAPLANE_V2:
        return "dataplane: v2 (Dataplane V2 reads the ConfigMap itself: gke-dataplane-v2)"
    if dataplane == "legacy" and platform is Platform.GKE_DATAPLANE_V2:
        return "dataplane: legacy (set dataplane: v2 for a Dataplane V2 cluster)"
    return None
