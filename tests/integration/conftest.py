"""Fixtures of the integration tests that drive the pipeline."""

from tests.integration.pipeline_helpers import pipeline_env

__all__ = ["pipeline_env"]
