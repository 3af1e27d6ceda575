"""The local 3-node cluster's layout: ports, bootstrap, replication, node configs."""

from __future__ import annotations

from pathlib import Path

from campaignflow import kafka_local
from campaignflow.config import Settings
from topics.catalogue import min_insync_replicas


def test_nodes_have_their_own_ports_and_clients_bootstrap_from_all() -> None:
    s = Settings(kafka_port=40000, kafka_brokers=3)
    assert [s.node_ports(i) for i in (1, 2, 3)] == [(40008, 40009), (40016, 40017), (40024, 40025)]
    assert s.bootstrap == "127.0.0.1:40008,127.0.0.1:40016,127.0.0.1:40024"
    assert Settings(kafka_port=40000).bootstrap == "127.0.0.1:40000"  # one node: as before


def test_three_nodes_mean_three_replicas_two_in_sync() -> None:
    assert Settings(kafka_brokers=3).topic_replication == 3
    assert Settings().topic_replication == 1
    assert Settings(kafka_brokers=3, replication_factor=2).topic_replication == 2
    assert [min_insync_replicas(r) for r in (1, 2, 3, 5)] == [1, 1, 2, 2]


def test_each_node_config_names_the_whole_quorum(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, kafka_port=40000, kafka_brokers=3)
    cluster = kafka_local.Cluster.from_settings(3, s)
    homes = {n.layout.home for n in cluster.nodes}
    assert len(homes) == 3 and all(h.parent == tmp_path / "kafka-cluster" for h in homes)
    text = kafka_local.write_node_properties(cluster, cluster.nodes[1]).read_text()
    assert "node.id=2\n" in text
    assert "controller.quorum.voters=1@127.0.0.1:40009,2@127.0.0.1:40017,3@127.0.0.1:40025" in text
    assert "listeners=PLAINTEXT://127.0.0.1:40016,CONTROLLER://127.0.0.1:40017" in text
    assert "min.insync.replicas=2" in text and "default.replication.factor=3" in text
    assert cluster.cluster_id() == cluster.cluster_id()  # made once, shared by the nodes
