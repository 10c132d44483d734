"""Publishing articles to the raw topic with no loss: acks=all, idempotent, each send awaited.

A background thread serves the producer's delivery reports and resolves one
asyncio future per article, so a feed's publish returns exactly when Kafka has
acknowledged every one of its articles, while other feeds keep sending.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, Message

from pipelines.errors import NewswatchError
from pipelines.kafka_connection import KafkaConnection
from pipelines.schema import Article

log = logging.getLogger(__name__)


class PublishError(NewswatchError):
    """Kafka did not acknowledge every article of a batch; the batch's state is not saved."""


def too_large(article: Article, size: int) -> str:
    return (f"article {article.url or article.id} is {size} bytes, over Kafka's message "
            "limit: not published (the rest of the feed is)")


# On top of the connection's acknowledged, idempotent producer policy: small batches.
PRODUCER_OPTIONS = {"linger.ms": 10, "compression.type": "zstd"}


def _settle(future: asyncio.Future[KafkaError | None], error: KafkaError | None) -> None:
    if not future.done():
        future.set_result(error)


class ArticlePublisher:
    def __init__(self, kafka: KafkaConnection, topic: str) -> None:
        self.topic = topic
        self.producer = kafka.producer("newswatch-collector", PRODUCER_OPTIONS)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._serve_reports, name="kafka-reports",
                                        daemon=True)
        self._poller.start()

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    async def publish(self, articles: Sequence[Article], timeout_s: float = 130.0,
                      ) -> list[str]:
        """Send all, then wait until every one is acknowledged; raise if any is not.

        An article too large for Kafka (refused by the producer or the broker) is the
        article's own trouble: it is left out with a message, returned, and the others
        are published."""
        loop = asyncio.get_running_loop()
        sent: list[tuple[Article, int, asyncio.Future[KafkaError | None]]] = []
        refused: list[str] = []
        for article in articles:
            future: asyncio.Future[KafkaError | None] = loop.create_future()

            def on_delivery(error: KafkaError | None, _message: Message,
                            future: asyncio.Future[KafkaError | None] = future) -> None:
                loop.call_soon_threadsafe(_settle, future, error)

            value = article.to_json_bytes()
            while True:
                try:
                    self.producer.produce(self.topic, key=article.id.encode(), value=value,
                                          on_delivery=on_delivery)
                    sent.append((article, len(value), future))
                    break
                except BufferError:  # local queue full: let deliveries drain
                    await asyncio.sleep(0.05)
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                        raise PublishError(f"Kafka refused an article on {self.topic}: "
                                           f"{exc.args[0]}") from exc
                    refused.append(too_large(article, len(value)))
                    break
        try:
            errors = await asyncio.wait_for(asyncio.gather(*(f for _, _, f in sent)), timeout_s)
        except TimeoutError as exc:
            raise PublishError(f"Kafka did not acknowledge {len(articles)} articles on "
                               f"{self.topic} within {timeout_s:g}s") from exc
        failed = []
        for (article, size, _future), error in zip(sent, errors, strict=True):
            if error is None:
                continue
            if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:  # the broker's limit
                refused.append(too_large(article, size))
            else:
                failed.append(str(error))
        if failed:
            raise PublishError(f"Kafka refused {len(failed)} of {len(articles)} articles on "
                               f"{self.topic}: {'; '.join(failed[:3])}")
        return refused

    def close(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._poller.join()
        self.producer.flush(timeout_s)
