"""The Beam pipeline: Kafka raw articles -> classify -> Elasticsearch -> classified topic."""
