"""Workers: reliable fetch, execution models, heartbeats and recovery."""
