"""One `pipeline run` per consumer group: a second one is refused (it would read every
partition again), the first goes on, and after a clean stop the group is free at once."""

from __future__ import annotations

import signal

from tests.integration.pipeline_helpers import PipelineEnv, article, stop


def test_a_second_pipeline_with_the_same_group_is_refused_and_the_first_goes_on(
        pipeline_env: PipelineEnv):
    penv = pipeline_env
    first = penv.start("run")
    try:
        penv.produce([article(0)])
        penv.wait_for_count(1, first)
        second = penv.cli("pipeline", "run", timeout=180)
        assert second.returncode == 1, second.stderr[-3000:]
        assert (f"another `newswatch pipeline run` is using consumer group "
                f"{penv.settings.pipeline_group_id}") in " ".join(second.stderr.split())
        assert "Traceback" not in second.stderr
        penv.produce([article(1)])
        penv.wait_for_count(2, first)
    finally:
        assert stop(first, signal.SIGTERM) == 0, penv.log_text()[-3000:]
    third = penv.start("run")
    try:
        penv.produce([article(2)])
        penv.wait_for_count(3, third)
    finally:
        assert stop(third, signal.SIGTERM) == 0, penv.log_text()[-3000:]
    assert set(penv.indexed()) == {article(n).id for n in range(3)}
