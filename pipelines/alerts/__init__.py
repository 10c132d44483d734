"""Alerting: rules matched against Elasticsearch, messages to Slack, state in an index."""
