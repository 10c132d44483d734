"""Analysts' corrections: recorded in Elasticsearch, exported and trained on."""
