"""The exceptions of `topics/`, in one place, under `TopicsError` (a `CampaignflowError`)."""

from __future__ import annotations

from campaigns.exceptions import CampaignflowError


class TopicsError(CampaignflowError):
    """An error of the topic layer: codecs, producers, clients."""


class BrokerUnreachable(TopicsError, ConnectionError):
    """No broker of the bootstrap list accepts a connection; the message is one line."""


class DecodeError(TopicsError, ValueError):
    """A message that cannot be decoded; says where it came from and why."""

    def __init__(
        self,
        reason: str,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        super().__init__(
            f"cannot decode message at topic={topic} partition={partition} offset={offset}: {reason}"
        )


class EncodeError(TopicsError, ValueError):
    """A record that does not fit its event's schema."""


class DeliveryError(TopicsError, RuntimeError):
    """The broker did not acknowledge every message."""


class MessageTooLarge(TopicsError, ValueError):
    """A message over the topics' limit: no topic would take it."""


class TopicMissing(TopicsError, LookupError):
    """A topic a consumer reads does not exist (or shows no partitions yet)."""


class TopicStalled(TopicsError, TimeoutError):
    """A read to a topic's end got no record for its quiet time while short of the end."""
