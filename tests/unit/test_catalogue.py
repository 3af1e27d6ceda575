"""The topic catalogue: co-partitioned engine inputs, compacted tables, prefixed names."""

from __future__ import annotations

import pytest

from topics import catalogue, schemas

pytestmark = pytest.mark.unit


def test_every_topic_is_there_with_its_schema() -> None:
    cat = catalogue.catalogue(prefix="")
    assert set(cat) == set(catalogue.LOGICAL_NAMES)
    assert {t.schema for t in cat.values()} <= set(schemas.EVENTS)
    assert {t.schema for t in cat.values()} == set(schemas.EVENTS) - {"CampaignDefinition"}


def test_engine_inputs_and_outputs_co_partition_by_account() -> None:
    cat = catalogue.catalogue(prefix="")
    keyed = [t for t in cat.values() if t.account_keyed]
    engine_topics = set(catalogue.ENGINE_INPUTS) | {
        catalogue.CALL_CREATE,
        catalogue.EVENTS,
        catalogue.INBOUND,
    }
    assert {t.logical for t in keyed} >= engine_topics
    assert len({t.partitions for t in keyed}) == 1
    for logical in engine_topics - {catalogue.TICKS}:  # ticks go to an explicit partition
        assert cat[logical].key == "account_id", logical
    assert catalogue.account_key("acme") == b"acme"
    with pytest.raises(ValueError, match="account_id"):
        catalogue.account_key("")


def test_compacted_topics() -> None:
    cat = catalogue.catalogue(prefix="")
    compacted = {t.logical for t in cat.values() if t.cleanup_policy == "compact"}
    assert compacted == {
        catalogue.DNC,
        catalogue.ACCOUNT_STATUS,
        *(t for t in catalogue.API_TOPICS if t != catalogue.API_IDEMPOTENCY),
    }
    assert cat[catalogue.API_IDEMPOTENCY].cleanup_policy == "compact,delete"
    assert cat[catalogue.DNC].kafka_config()["cleanup.policy"] == "compact"
    assert cat[catalogue.DNC].key == "number"
    assert cat[catalogue.ACCOUNT_STATUS].key == "account_id"


def test_prefix_and_lookups() -> None:
    assert catalogue.topic_name(catalogue.OUTCOMES, prefix="t1.") == "t1.call.outcomes"
    assert catalogue.spec(catalogue.DEADLETTER, prefix="x-").name == "x-campaignflow.deadletter"
    with pytest.raises(KeyError, match="unknown topic"):
        catalogue.topic_name("nope", "")
