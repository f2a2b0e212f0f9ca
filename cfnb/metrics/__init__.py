"""Metrics: pure functions from the journeys table to small frozen results.

One module per metric family (funnel, retention, throughput, constraint, activation,
referral, revenue). What they share lives in two private modules: ``_inputs`` (the
journeys/factory contracts, input checks and stage horizons) and ``_render`` (JSON-ready
values, number formatting and the HTML tables of the results).
"""
