"""The analyst's board: a small web application over the articles, alerts and feedback.

``queries`` builds Elasticsearch requests and shapes their answers (pure, unit
tested); ``reads`` runs them; ``actions`` writes feedback and alert rules through
the same code as ``newswatch label`` and ``newswatch alerts add``; ``health``
gathers Kafka lag, dead letters and the promoted model; ``security`` holds the
CSRF, token and exposure rules; ``app`` has the routes and ``server`` runs them
under uvicorn. Why this shape: docs/adr/0005-analyst-board.md.
"""
