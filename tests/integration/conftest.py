"""Fixtures of the integration tests: the pipeline's environment, a local feed server, and
settings whose raw topic is a fresh one."""

import pytest

from tests.integration.pipeline_helpers import fresh_env, pipeline_env
from tests.support.feed_server import FeedServer

__all__ = ["fresh_env", "pipeline_env"]


@pytest.fixture
def server():
    srv = FeedServer()
    yield srv
    srv.close()


@pytest.fixture
def raw(stack, topic):
    return stack.model_copy(update={"topic_raw": topic})
