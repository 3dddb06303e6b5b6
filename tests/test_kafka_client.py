"""The long-lived Kafka clients of a process, against the real broker."""

from __future__ import annotations

import multiprocessing

from confluent_kafka import TopicPartition

from memgraph_pipelines.kafka.client import (
    KafkaConnection,
    commit_offsets,
    committed_offsets,
    topic_partitions,
)


def test_clients_are_reused_per_connection_and_group(kafka_brokers):
    connection = KafkaConnection(kafka_brokers)
    assert connection.admin() is connection.admin()
    assert KafkaConnection(kafka_brokers).admin() is connection.admin()  # equal settings
    assert connection.offsets_consumer("g1") is connection.offsets_consumer("g1")
    assert connection.offsets_consumer("g1") is not connection.offsets_consumer("g2")
    assert connection.shared_producer() is connection.shared_producer()


def test_commits_through_the_shared_consumer_never_move_back(kafka_brokers, fresh_topic):
    topic = fresh_topic("client", partitions=2)
    connection = KafkaConnection(kafka_brokers)
    group = f"{topic}-group"
    assert commit_offsets(connection, group, topic, {0: 5, 1: 2}) == {0: 5, 1: 2}
    assert commit_offsets(connection, group, topic, {0: 3, 1: 4}) == {1: 4}
    assert committed_offsets(connection, group, topic) == {0: 5, 1: 4}
    # What standard tools see: a consumer of the group made afresh reads the same offsets.
    fresh = connection.consumer(group)
    try:
        found = fresh.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=15)
        assert {tp.partition: tp.offset for tp in found} == {0: 5, 1: 4}
    finally:
        fresh.close()


def _partitions_in_child(brokers: str, topic: str, sink) -> None:
    sink.send(topic_partitions(KafkaConnection(brokers).admin(), topic))


def test_a_forked_child_makes_its_own_admin_client(kafka_brokers, fresh_topic):
    topic = fresh_topic("client-fork", partitions=3)
    assert topic_partitions(KafkaConnection(kafka_brokers).admin(), topic) == [0, 1, 2]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_partitions_in_child, args=(kafka_brokers, topic, sender))
    child.start()
    # The parent's client has no threads in the child: using it would time out, not answer.
    assert receiver.poll(30), "the forked child did not answer"
    assert receiver.recv() == [0, 1, 2]
    child.join(30)
    assert child.exitcode == 0
