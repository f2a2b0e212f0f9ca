"""Metrics: pure functions from the journeys table to small frozen results."""
