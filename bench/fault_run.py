#!/usr/bin/env python3
"""The combined fault-injection run under load, with its figures (issue 14).

  .venv/bin/python bench/fault_run.py [--articles 600] [--rate 4]

Runs tests/support/fault_run.py on the running local stack with a tiny model trained
for the run: the articles index write-blocked for 60 s, Slack (a local Slack-like
server) answering 503 for 90 s, the pipeline and the alerter kill -9ed and restarted,
the Kafka broker restarted. Prints the timeline as it happened and the counts: articles
lost and doubled, dead letters, alerts lost and sent twice. Exit 1 if any is not 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.base_model import base_model_dir
from classifiers.registry import Registry
from classifiers.training_run import train
from pipelines.settings import load_settings
from tests.classifier_fixtures import tiny_config, tiny_corpus
from tests.integration.pipeline_helpers import article, make_pipeline_env
from tests.support.fault_run import FaultPlan, run_faults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=FaultPlan.articles)
    parser.add_argument("--rate", type=float, default=FaultPlan.rate_per_s,
                        help="articles per second")
    args = parser.parse_args()
    stack = load_settings()
    plan = FaultPlan(articles=args.articles, rate_per_s=args.rate)
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp) / "registry" / "models")
        trained = (registry, train(tiny_config(), tiny_corpus(), base_model_dir(), registry,
                                   promote=True))
        work = Path(tmp) / "run"
        work.mkdir()
        environments = make_pipeline_env(stack, trained, work)
        penv = next(environments)
        try:
            report = run_faults(penv, stack, plan, say=print)
        finally:
            next(environments, None)  # clean up the run's topics and indices
    expected = {article(n).id for n in range(plan.articles)}
    print("\n".join(report.lines(expected)))
    bad = (report.lost(expected) or report.alerts_lost(expected) or report.alerts_doubled()
           or report.dead_letters or report.index_count != len(expected))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
