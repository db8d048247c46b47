"""Bounded documents and messages: aliases refused, values quoted briefly, files read safely."""

import io
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from ip_masq_agent import config_yaml
from ip_masq_agent.config import ConfigError, parse_config
from ip_masq_agent.config_keeper import FileConfigSource
from ip_masq_agent.config_yaml import (
    MAX_YAML_NODES,
    LibYamlLoader,
    PureYamlLoader,
    check_yaml_shape,
    load_document,
)
from ip_masq_agent.logs import MAX_FIELD_CHARS, configure_logging, log_event
from ip_masq_agent.quoting import quoted
from tests.agent.hostile_input import bomb_in

LOADERS = [pytest.param(PureYamlLoader, id="pure-python")]
if LibYamlLoader is not None:
    LOADERS.append(pytest.param(LibYamlLoader, id="libyaml"))


@pytest.mark.parametrize("loader", [*LOADERS, pytest.param(None, id="default")])
@pytest.mark.parametrize("key", ["nonMasqueradeCIDRs", "cidrLimit", "resyncInterval"])
def test_an_alias_bomb_in_a_typed_field_is_refused_at_once_with_a_short_message(
    key: str, loader: type | None
) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_config(bomb_in(key), enable_ipv6=False, source="cfg", yaml_loader=loader)
    assert time.monotonic() - started < 1.0
    assert str(caught.value).startswith("cfg: YAML anchor &a0 at line 2: anchors and aliases")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(bomb_in("cidrLimit"), "YAML anchor &a0", id="bomb"),
        pytest.param("a: *undefined\n", r"YAML alias \*undefined", id="alias-only"),
        pytest.param("base: &b {x: 1}\nc:\n  <<: *b\n", "YAML anchor &b", id="merge-key"),
        pytest.param("a: [" + "0," * 1000 + "0]\n", "more than 1000 YAML", id="many-nodes"),
        pytest.param("a: " + "[" * 201 + "]" * 201, "nested too deeply", id="deep"),
    ],
)
def test_shape_check_is_the_same_with_either_loader(
    loader: type, document: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_yaml, "MAX_YAML_NODES", 1000)  # the pure loader is slow at 50,000
    with pytest.raises(ConfigError, match=message):
        check_yaml_shape(document, "cfg", loader)


def test_the_node_limit_holds_at_its_real_size() -> None:
    with pytest.raises(ConfigError, match=f"more than {MAX_YAML_NODES} YAML values"):
        parse_config("a: [" + "0," * MAX_YAML_NODES + "0]\n", enable_ipv6=False)


@pytest.mark.parametrize("loader", LOADERS)
def test_an_ordinary_config_passes_the_shape_check(loader: type) -> None:
    cidrs = ", ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(10_000))
    check_yaml_shape(f"nonMasqueradeCIDRs: [{cidrs}]\ncidrLimit: 10000\n", "cfg", loader)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        pytest.param('{"' + "x" * 900_000 + '": 1}', "ignoring unknown key 'xxx", id="unknown-key"),
        pytest.param("resyncInterval: " + "9" * 200_000 + "q\n", "resyncInterval '999", id="dur"),
        pytest.param(
            "nonMasqueradeCIDRs: ['" + "1" * 200_000 + "']\n", "nonMasqueradeCIDRs[0]", id="cidr"
        ),
        pytest.param(
            "cidrLimit: [" + ", ".join(["1"] * 2000) + "]\n", "a list of 2000 items", id="list"
        ),
    ],
)
def test_values_in_messages_are_cut_to_about_100_characters(document: str, fragment: str) -> None:
    try:
        messages = parse_config(document, enable_ipv6=False, source="cfg").warnings
    except ConfigError as err:
        messages = (str(err),)
    assert len(messages) == 1
    assert fragment in messages[0]
    assert len(messages[0]) < 300


def test_quoted_cuts_long_values_and_summarises_containers() -> None:
    assert quoted("short") == "'short'"
    assert quoted("y" * 500) == repr("y" * 100) + "... (500 characters)"
    assert quoted(["10.0.0.0/8"]) == "['10.0.0.0/8']"
    assert quoted(list(range(1000))) == "a list of 1000 items"


def _read_bounded(source: FileConfigSource) -> str | BaseException | None:
    """source.read() in a thread, given 2 s; a blocked read is reported, never waited out."""
    outcome: list[str | BaseException | None] = []

    def target() -> None:
        try:
            outcome.append(source.read())
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(2.0)
    if thread.is_alive():
        # Unblock it (a writer opening the FIFO lets the reader's open return) and fail.
        with open(source.name, "wb"):
            pass
        thread.join(2.0)
        pytest.fail(f"reading {source.name} blocked")
    return outcome[0]


def test_a_fifo_at_the_path_is_a_rejected_config_not_a_stalled_read(tmp_path: Path) -> None:
    path = tmp_path / "config"
    os.mkfifo(path)
    outcome = _read_bounded(FileConfigSource(str(path)))
    assert isinstance(outcome, ConfigError)
    assert str(outcome) == f"{path}: not a regular file (a FIFO)"


def test_a_symlink_to_dev_zero_is_rejected_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.symlink_to("/dev/zero")
    started = time.monotonic()
    outcome = _read_bounded(FileConfigSource(str(path)))
    assert time.monotonic() - started < 1.0
    assert isinstance(outcome, ConfigError)
    assert str(outcome) == f"{path}: not a regular file (a character device)"


def test_a_file_over_1_mib_is_rejected_after_reading_1_mib_and_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"#" * (5 * 1024 * 1024))
    with pytest.raises(ConfigError, match="more than 1048576 bytes"):
        FileConfigSource(str(path)).read()
    path.write_bytes(b"#" * (1024 * 1024))
    assert FileConfigSource(str(path)).read() == "#" * (1024 * 1024)


def test_a_log_line_stays_bounded_whatever_a_field_holds() -> None:
    stream = io.StringIO()
    logger = configure_logging(0, stream)
    log_event(logger, logging.WARNING, "config warning", warning="k" * 900_000)
    line = stream.getvalue()
    assert line.count("\n") == 1 and len(line) < MAX_FIELD_CHARS + 200
    assert "... (900000 characters)" in line


@pytest.mark.parametrize(
    "document",
    [
        pytest.param("a: [" + "0," * 1000 + "0]\n", id="many-nodes"),
        pytest.param("a: " + "[" * 150 + "]" * 150 + "\n", id="deeper-than-libyaml-composes"),
        pytest.param("a: " + "[" * 201 + "]" * 201 + "\n", id="deep"),
        pytest.param("a: 1\n---\nb: 2\n", id="two-documents"),
        pytest.param("a: [1, 2\n", id="syntax-error"),
        pytest.param("a: [1, x, {b: [c, 2]}, '3', y, null, [d]]\nb: [10.0.0.0/8]\n", id="mixed"),
        pytest.param("nonMasqueradeCIDRs:\n- 10.0.0.0/8\n- '10.1.0.0/16'\n", id="block"),
    ],
)
def test_bounds_counted_while_libyaml_composes_answer_as_the_walk_does(
    document: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default path bounds the document as libyaml composes it; the forced pure loader
    # always walks the events first: both must answer alike, in the same words.
    monkeypatch.setattr(config_yaml, "MAX_YAML_NODES", 1000)

    def outcome(loader: type | None) -> str:
        try:
            return repr(parse_config(document, enable_ipv6=False, source="cfg", yaml_loader=loader))
        except ConfigError as err:
            return str(err)

    assert outcome(None) == outcome(PureYamlLoader)
    if not outcome(None).startswith("cfg:"):
        assert load_document(document, "cfg") == load_document(document, "cfg", PureYamlLoader)
