"""Every store fault at once, under load (issue 14's acceptance run): the articles index
write-blocked for 60 s, Slack answering 503 for 90 s, the pipeline and the alerter
kill -9ed and started again, the Kafka broker restarted. 0 articles lost, 0 doubled,
nothing dead-lettered, 0 alerts lost or sent twice. `bench/fault_run.py` runs the same
with the figures printed."""

from __future__ import annotations

import pytest

from tests.integration.pipeline_helpers import PipelineEnv, article
from tests.support.fault_run import FaultPlan, run_faults, watched

pytestmark = pytest.mark.integration


@pytest.mark.timeout(900)
def test_every_fault_at_once_under_load_loses_and_doubles_nothing(
        pipeline_env: PipelineEnv, stack):
    plan = FaultPlan()
    report = run_faults(pipeline_env, stack, plan, say=print)
    expected = {article(n).id for n in range(plan.articles)}
    print("\n".join(report.lines(expected)))
    assert report.produced == plan.articles and report.produce_errors == 0
    assert report.indexed_ids == expected
    assert report.index_count == plan.articles
    assert report.dead_letters == 0
    assert report.alerts_lost(expected) == []
    assert report.alerts_doubled() == []
    assert set(report.alert_counts) == {article(n).id for n in range(plan.articles)
                                        if watched(n)}
    assert report.slack_refused > 0  # the outage was really seen by the alerter
    assert (report.pipeline_exit, report.alerter_exit) == (0, 0)
