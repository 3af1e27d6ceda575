"""Shared test rig: markers by directory, a real Kafka broker per session, unique topic prefixes."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as settings_profiles

from campaignflow import kafka_local
from campaignflow.config import settings

TESTS_DIR = Path(__file__).resolve().parent
MARKER_DIRS = ("unit", "property", "integration", "e2e", "browser", "security", "chaos")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """tests/<kind>/... gets the <kind> marker, so `-m unit` etc. need no decorator."""
    for item in items:
        try:
            rel = Path(str(item.path)).resolve().relative_to(TESTS_DIR)
        except ValueError:
            continue
        if rel.parts and rel.parts[0] in MARKER_DIRS:
            item.add_marker(getattr(pytest.mark, rel.parts[0]))


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """bootstrap.servers of a real broker.

    KAFKA_BOOTSTRAP_SERVERS if set; else the project's local broker (reused when it already
    runs, and then left running); else a testcontainers Kafka where a Docker engine answers.
    """
    s = settings()
    if s.kafka_bootstrap_servers:
        yield kafka_local.up().bootstrap
        return
    try:
        st = kafka_local.up()
    except kafka_local.KafkaLocalError as local_error:
        if not _docker_answers():
            pytest.fail(
                "No Kafka broker for the tests: the local broker could not start "
                f"({local_error}) and no Docker engine answers. Install Java 17+ and Maven, "
                "or set KAFKA_BOOTSTRAP_SERVERS.",
                pytrace=False,
            )
        from testcontainers.kafka import KafkaContainer

        # The helper's KRaft boot script is written for Confluent's cp-kafka images.
        with KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    try:
        yield st.bootstrap
    finally:
        if st.started:  # started by this session: stop it; a broker that was running stays
            kafka_local.down()


@pytest.fixture(scope="session")
def kafka_cluster_bootstrap() -> Iterator[str]:
    """bootstrap.servers of the local 3-node cluster (`kafka up --brokers 3`).

    Started here when it does not run (and then stopped at the end of the session); a
    cluster that was running is reused and stays. Ports come from CAMPAIGNFLOW_KAFKA_PORT.
    """
    started = any(n.status.started for n in kafka_local.cluster_up(3))
    try:
        yield kafka_local.Cluster.from_settings(3).bootstrap
    finally:
        if started:
            kafka_local.cluster_down()


@pytest.fixture()
def topic_prefix(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A prefix no other test (or parallel run) uses, also set as CAMPAIGNFLOW_TOPIC_PREFIX.

    With a broker, the prefix's topics are deleted afterwards: a shared broker's heap holds
    every partition's metadata, and a session of stacks left behind exhausted it."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:40]
    prefix = f"t-{name}-{uuid.uuid4().hex[:8]}."
    bootstrap = (
        request.getfixturevalue("kafka_bootstrap")
        if "kafka_bootstrap" in request.fixturenames
        else None
    )
    monkeypatch.setenv("CAMPAIGNFLOW_TOPIC_PREFIX", prefix)
    settings.cache_clear()
    yield prefix
    settings.cache_clear()
    if bootstrap is not None:
        delete_prefixed_topics(bootstrap, prefix)


def delete_prefixed_topics(bootstrap: str, prefix: str) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from topics.admin import delete_topics

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        names = [n for n in admin.list_topics(timeout=30).topics if n.startswith(prefix)]
        delete_topics(names, admin=admin)
    except KafkaException as exc:  # the test's verdict stands; leftovers are only untidy
        print(f"could not delete the topics of {prefix}: {exc}")


# Hypothesis: random examples on a developer's machine (new cases every run), a fixed
# seed under CI (a submission is judged on the same examples every time).
settings_profiles.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings_profiles.load_profile("ci")
