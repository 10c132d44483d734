"""In-process Beam workers that listen on loopback only.

Beam's LOOPBACK environment runs the SDK workers inside the submitting process, which
is what the local runner needs (the drain signal, the loaded model and the Kafka
consumers live there). But Beam starts its worker pool on ``[::]``, every interface:
anyone who can reach the machine could ask it to start workers. This module serves
the same worker pool (Beam's own ``BeamFnExternalWorkerPoolServicer``, in-process
threads) on 127.0.0.1, and ``on_loopback`` points a pipeline's options at it as an
EXTERNAL environment: the same workers, the same process, one listener on loopback.
"""

from __future__ import annotations

import functools
import logging

import grpc
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions, PortableOptions
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import sdk_worker_main
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor

log = logging.getLogger(__name__)


@functools.cache
def _pool(state_cache_size: int, data_buffer_time_limit_ms: int) -> tuple[str, grpc.Server]:
    """Start the process's worker pool on 127.0.0.1 once: its address, and its server (held
    here for the life of the process: a collected grpc.Server stops serving)."""
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[("grpc.http2.max_pings_without_data", 0),
                                  ("grpc.http2.max_ping_strikes", 0)])
    port = server.add_insecure_port("127.0.0.1:0")
    pool = BeamFnExternalWorkerPoolServicer(
        use_process=False, state_cache_size=state_cache_size,
        data_buffer_time_limit_ms=data_buffer_time_limit_ms)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    address = f"127.0.0.1:{port}"
    log.info("in-process Beam workers listening on %s", address)
    return address, server


def on_loopback(options: PipelineOptions) -> None:
    """Replace a LOOPBACK environment by the loopback-bound in-process worker pool."""
    portable = options.view_as(PortableOptions)
    if (portable.environment_type or "").upper() != "LOOPBACK":
        return
    experiments = options.view_as(DebugOptions).experiments or []
    portable.environment_type = "EXTERNAL"
    portable.environment_config, _server = _pool(
        sdk_worker_main._get_state_cache_size_bytes(options=options),
        sdk_worker_main._get_data_buffer_time_limit_ms(experiments))
