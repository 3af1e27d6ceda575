"""The project's own broker: `kafka up` is idempotent, `down` leaves no process, messages flow.

The up/down test runs a second broker in its own state directory on free ports, so the
shared broker other tests (and teammates) use is never touched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.helpers import STALL_SECONDS, wait_until

CLI = [sys.executable, "-m", "campaignflow.cli", "kafka"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_exists(pid: int) -> bool:
    """A pid that is gone, or only a zombie waiting for its reaper, is no process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _round_trip(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=b"hello")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:

        def one() -> Message | None:
            msg = consumer.poll(1.0)
            return msg if msg is not None and msg.error() is None else None

        got = wait_until(one, f"a message consumed from {topic}", poll_seconds=0)
        assert (got.key(), got.value()) == (b"k", b"hello")
    finally:
        consumer.close()
    for future in admin.delete_topics([topic]).values():
        future.result(30)


@pytest.fixture()
def own_broker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a CLI that manages a broker of its own: tmp home, free ports."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(
        CAMPAIGNFLOW_HOME=str(tmp_path / "home"),
        CAMPAIGNFLOW_KAFKA_PORT=str(_free_port()),
        CAMPAIGNFLOW_KAFKA_CONTROLLER_PORT=str(_free_port()),
    )
    yield env
    subprocess.run([*CLI, "down"], env=env, capture_output=True, check=False)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_up_twice_gives_one_broker_and_down_leaves_no_process(
    own_broker_env: dict[str, str],
) -> None:
    port = own_broker_env["CAMPAIGNFLOW_KAFKA_PORT"]
    first = _cli(own_broker_env, "up")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == f"bootstrap=127.0.0.1:{port}"
    pid_file = Path(own_broker_env["CAMPAIGNFLOW_HOME"]) / "run" / "kafka.pid"
    pid = int(pid_file.read_text())
    assert _process_exists(pid)

    second = _cli(own_broker_env, "up")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == f"bootstrap=127.0.0.1:{port}"
    assert int(pid_file.read_text()) == pid
    assert "reusing" in second.stderr

    status = _cli(own_broker_env, "status")
    assert status.returncode == 0
    assert status.stdout.strip() == f"running pid={pid} bootstrap=127.0.0.1:{port}"

    _round_trip(f"127.0.0.1:{port}", f"own-{uuid.uuid4().hex[:8]}")

    stopped = _cli(own_broker_env, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "stopped"
    assert not _process_exists(pid)
    assert not pid_file.exists()

    after = _cli(own_broker_env, "status")
    assert after.returncode == 3
    assert after.stdout.strip().startswith("stopped")
    assert _cli(own_broker_env, "down").stdout.strip() == "not running"


def test_messages_flow_through_the_session_broker(kafka_bootstrap: str, topic_prefix: str) -> None:
    _round_trip(kafka_bootstrap, f"{topic_prefix}roundtrip")


def test_aiokafka_produces_and_consumes_in_a_group(kafka_bootstrap: str, topic_prefix: str) -> None:
    """aiokafka (under Faust) speaks the broker's protocol versions: groups, commits, idempotence."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = f"{topic_prefix}aio"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(30)

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"g-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            for _ in range(int(STALL_SECONDS)):  # a bound for a broken broker only
                batch = await consumer.getmany(timeout_ms=1000)
                got += [m.value for msgs in batch.values() for m in msgs if m.value is not None]
                if len(got) >= 10:
                    break
            await consumer.commit()
        finally:
            await consumer.stop()
        return got

    assert sorted(asyncio.run(run())) == sorted(f"v{i}".encode() for i in range(10))
    for future in admin.delete_topics([topic]).values():
        future.result(30)


FAUST_APP = """
import os
import sys
import faust

app_id, bootstrap, source, result = sys.argv[1:5]
sys.argv[1:] = ["worker", "-l", "warn"]
app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                topic_partitions=3, datadir=sys.argv[0] + ".data")
src = app.topic(source, key_serializer="raw", value_serializer="raw", partitions=3)
counts = app.Table("counts", default=int, partitions=3)

@app.agent(src)
async def count(stream):
    async for key, value in stream.items():
        counts[key.decode()] += 1
        if value == b"stop":
            with open(result + ".tmp", "w") as fh:  # Faust turns print() into log records
                fh.write(repr(sorted(counts.items())))
            os.replace(result + ".tmp", result)

app.main()
"""


def test_faust_agent_and_table_changelog_work(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """A Faust agent reads a raw topic and counts into a Table whose changelog lands on Kafka."""

    app_id = f"{topic_prefix}faust".replace(".", "-")
    source = f"{topic_prefix}src"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(source, 3, 1)]).values():
        future.result(30)
    script = tmp_path / "faust_app.py"
    script.write_text(FAUST_APP)
    out = tmp_path / "faust.out"
    result = tmp_path / "table.txt"
    with out.open("w") as sink:
        worker = subprocess.Popen(
            [sys.executable, str(script), app_id, kafka_bootstrap, source, str(result)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        for i in range(9):
            producer.produce(source, key=f"k{i % 3}".encode(), value=f"v{i}".encode())
        producer.produce(source, key=b"k0", value=b"stop")
        assert producer.flush(30) == 0
        # the worker joins its group, then reads from the start (a log that grows is progress)
        wait_until(
            lambda: result.exists() or worker.poll() is not None,
            "the worker's result",
            progress=lambda: out.stat().st_size,
            poll_seconds=0.5,
        )
        assert result.exists(), out.read_text()[-3000:]
        assert result.read_text() == "[('k0', 4), ('k1', 3), ('k2', 3)]"
    finally:
        worker.terminate()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)

    changelog = f"{app_id}-counts-changelog"
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([changelog])
    latest: dict[bytes, bytes] = {}
    expected = {b'"k0"': b"4", b'"k1"': b"3", b'"k2"': b"3"}
    try:

        def every_key_last() -> bool:  # changelog partitions arrive in any order
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                latest[msg.key() or b""] = msg.value() or b""
            return latest == expected

        wait_until(
            every_key_last, f"{changelog} read to {expected}", progress=latest.copy, poll_seconds=0
        )
    finally:
        consumer.close()
    assert latest == expected
    leftovers = [t for t in admin.list_topics(timeout=30).topics if t.startswith(app_id)]
    for future in admin.delete_topics([source, *leftovers]).values():
        future.result(30)
