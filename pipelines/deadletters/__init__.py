"""Reading dead letters and sending them back through the pipeline."""
