"""Validate custom resources offline against CRD schemas kept as data (tests/monitoring/crds)."""

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

CRD_DIR: Final = Path(__file__).with_name("crds")
# metadata is `type: object` in every CRD: the API server checks it as ObjectMeta. The parts
# a rendered object sets are checked here by the same rules (DNS-1123 names, label syntax).
_DNS_LABEL: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(rf"{_DNS_LABEL.pattern}(\.{_DNS_LABEL.pattern})*")
_LABEL_NAME: Final = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE: Final = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def load_crd_schemas(directory: Path = CRD_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the version's openAPIV3Schema, for every CRD file in `directory`."""
    schemas = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            schemas[api_version, spec["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields refused where the API server would prune them.

    A structural CRD schema drops fields it does not declare, silently: for a rendered object
    that is a typo lost (`podMetricEndpoints`), so here it is an error instead.
    """
    result = copy.deepcopy(dict(schema))
    if (
        result.get("type") == "object"
        and "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    if "properties" in result:
        result["properties"] = {name: strict(sub) for name, sub in result["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(result.get(key), Mapping):
            result[key] = strict(result[key])
    if "anyOf" in result:
        result["anyOf"] = [strict(sub) for sub in result["anyOf"]]
    return result


def _metadata_errors(metadata: Mapping[str, Any]) -> list[str]:
    errors = []
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        errors.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    namespace = metadata.get("namespace")
    if namespace is not None and not (
        isinstance(namespace, str) and len(namespace) <= 63 and _DNS_LABEL.fullmatch(namespace)
    ):
        errors.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if (
            (prefix and not _DNS_SUBDOMAIN.fullmatch(prefix))
            or len(label) > 63
            or not _LABEL_NAME.fullmatch(label)
        ):
            errors.append(f"metadata.labels: {key!r} is not a label name")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            errors.append(f"metadata.labels.{key}: {value!r} is not a label value")
    return errors


def validation_errors(
    obj: Mapping[str, Any], schemas: Mapping[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """One line per problem (`PodMonitor kube-system/x: spec.selector: ...`); [] when valid."""
    kind = obj.get("kind")
    metadata = obj.get("metadata") or {}
    where = f"{kind} {metadata.get('namespace', '')}/{metadata.get('name', '')}"
    schema = schemas.get((str(obj.get("apiVersion")), str(kind)))
    if schema is None:
        return [f"{where}: no CRD schema for {obj.get('apiVersion')} {kind} in {CRD_DIR.name}/"]
    validator = jsonschema.Draft7Validator(strict(schema))
    errors = [
        f"{where}: {'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(
            validator.iter_errors(dict(obj)), key=lambda e: [str(p) for p in e.path]
        )
    ]
    return errors + [f"{where}: {problem}" for problem in _metadata_errors(metadata)]
