"""The pipeline's own listeners on loopback: Prism's job service as built, and the
in-process Beam worker pool (the listening itself is checked with `ss` in
tests/integration/test_listeners.py)."""

from __future__ import annotations

import gc
import socket

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from pipelines.errors import DownloadError
from pipelines.stack.prism import bind_to_loopback
from pipelines.stream.worker_pool import on_loopback

UPSTREAM = '''func NewServer(port int, execute func(*Job)) *Server {
\tlis, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
\tif err != nil {'''


def test_prisms_job_service_is_built_to_listen_on_127_0_0_1_only():
    assert bind_to_loopback(UPSTREAM) == UPSTREAM.replace(
        'fmt.Sprintf(":%d", port)', 'fmt.Sprintf("127.0.0.1:%d", port)')


@pytest.mark.parametrize("source", [
    UPSTREAM.replace('":%d"', '"0.0.0.0:%d"'),  # upstream changed the call
    UPSTREAM + "\n" + UPSTREAM,  # a second listener: which one is the job service?
])
def test_a_prism_source_that_is_not_the_expected_one_stops_the_build(source):
    with pytest.raises(DownloadError, match="BEAM_VERSION"):
        bind_to_loopback(source)


def test_loopback_workers_become_an_external_pool_on_127_0_0_1_that_answers():
    options = PipelineOptions(["--runner=PrismRunner", "--environment_type=LOOPBACK"])
    on_loopback(options)
    portable = options.view_as(PortableOptions)
    assert portable.environment_type == "EXTERNAL"
    host, port = portable.environment_config.rsplit(":", 1)
    assert host == "127.0.0.1"
    gc.collect()  # the pool outlives any reference the caller holds
    socket.create_connection((host, int(port)), timeout=5).close()
    # The pool is the process's: a second pipeline reuses it.
    again = PipelineOptions(["--environment_type=LOOPBACK"])
    on_loopback(again)
    assert again.view_as(PortableOptions).environment_config == portable.environment_config


def test_other_environments_are_left_as_given():
    options = PipelineOptions(["--environment_type=PROCESS",
                               "--environment_config={\"command\": \"boot\"}"])
    on_loopback(options)
    assert options.view_as(PortableOptions).environment_type == "PROCESS"
