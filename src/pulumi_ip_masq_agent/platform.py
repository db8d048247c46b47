"""How the derived list reaches the nodes (the delivery `platform`), decided from plain values."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    """Where the list goes: which objects carry it and which agent (if any) reads them."""

    GKE_STANDARD = "gke-standard"
    """Our agent's DaemonSet reads the kube-system/ip-masq-agent ConfigMap (the default)."""
    GKE_MANAGED_AGENT = "gke-managed-agent"
    """ConfigMap only: GKE's own ip-masq-agent reads it (cidrLimit set to fit the list)."""
    GKE_DATAPLANE_V2 = "gke-dataplane-v2"
    """ConfigMap only: GKE Dataplane V2 reads it itself."""
    GKE_AUTOPILOT = "gke-autopilot"
    """One EgressNATPolicy of NoSNAT destinations; nothing in kube-system (Autopilot refuses it)."""

    @property
    def runs_our_agent(self) -> bool:
        """Our DaemonSet runs (and so does every agent-only setting)."""
        return self is Platform.GKE_STANDARD

    @property
    def writes_kube_system(self) -> bool:
        """The list is a ConfigMap in kube-system (every platform but Autopilot)."""
        return self is not Platform.GKE_AUTOPILOT


def allowed_platforms() -> str:
    """The values, for one-line errors."""
    return ", ".join(Platform)


class PlatformError(ValueError):
    """A platform value or a contradiction between it and the deprecated switches; one line."""


@dataclass(frozen=True)
class PlatformChoice:
    """The resolved platform and the deprecation notes the caller emits (no I/O here)."""

    platform: Platform
    deprecations: tuple[str, ...] = ()


def parse_platform(value: str, *, where: str) -> Platform:
    """`value` as a Platform, or PlatformError naming `where` and listing the allowed values."""
    if value not in set(Platform):
        raise PlatformError(f"{where}: {value!r} is not one of {allowed_platforms()}")
    return Platform(value)


def resolve_component_platform(
    *,
    where: str,
    platform: str | None,
    dataplane: str | None,
    deploy_daemon_set: bool | None,
) -> PlatformChoice:
    """The component's platform from `platform` or the deprecated pair (None: not given).

    The pair keeps its old meaning for one release: dataplane v2 -> gke-dataplane-v2,
    deploy_daemon_set false -> gke-managed-agent; given beside `platform` it must agree."""
    notes: list[str] = []
    old: Platform | None = None
    if dataplane is not None:
        if dataplane not in ("legacy", "v2"):
            raise PlatformError(f"{where}: dataplane {dataplane!r} is not one of legacy, v2")
        notes.append(
            f"{where}: dataplane is deprecated and goes in the next release: use platform "
            f"{_platform_for(dataplane, deploy_daemon_set).value!r}"
        )
    if deploy_daemon_set is not None:
        notes.append(
            f"{where}: deploy_daemon_set is deprecated and goes in the next release: use platform "
            f"{_platform_for(dataplane or 'legacy', deploy_daemon_set).value!r}"
        )
    if dataplane == "v2" and deploy_daemon_set:
        raise PlatformError(
            f"{where}: deploy_daemon_set is true but dataplane is v2 "
            "(GKE Dataplane V2 reads the ConfigMap itself: use platform 'gke-dataplane-v2')"
        )
    if dataplane is not None or deploy_daemon_set is not None:
        old = _platform_for(dataplane or "legacy", deploy_daemon_set)
    if platform is None:
        return PlatformChoice(old or Platform.GKE_STANDARD, tuple(notes))
    chosen = parse_platform(platform, where=f"{where}: platform")
    if old is not None and old != chosen:
        given = _given(dataplane, deploy_daemon_set)
        raise PlatformError(
            f"{where}: platform {chosen.value!r} contradicts the deprecated {given} "
            f"(which mean {old.value!r}): drop {', '.join(_names(dataplane, deploy_daemon_set))}"
        )
    return PlatformChoice(chosen, tuple(notes))


def _platform_for(dataplane: str, deploy_daemon_set: bool | None) -> Platform:
    if dataplane == "v2":
        return Platform.GKE_DATAPLANE_V2
    if deploy_daemon_set is False:
        return Platform.GKE_MANAGED_AGENT
    return Platform.GKE_STANDARD


def _names(dataplane: str | None, deploy_daemon_set: bool | None) -> Sequence[str]:
    return [
        name
        for name, value in (("dataplane", dataplane), ("deploy_daemon_set", deploy_daemon_set))
        if value is not None
    ]


def _given(dataplane: str | None, deploy_daemon_set: bool | None) -> str:
    parts = []
    if dataplane is not None:
        parts.append(f"dataplane {dataplane!r}")
    if deploy_daemon_set is not None:
        parts.append(f"deploy_daemon_set {str(deploy_daemon_set).lower()}")
    return " and ".join(parts)
