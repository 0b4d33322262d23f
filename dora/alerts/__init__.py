"""Alerts: conditions of a team found by providers, fired once and cleared, delivered with retries.

evaluate.py   the Condition, the providers' registry and `alerts_evaluate` (AlertState rows)
providers.py  stale environments, version spread over its limit, blocked promotions
targets.py    figure targets newly missed (reads dora.targets)
delivery.py   email, Slack incoming webhook and the generic JSON webhook (AlertDelivery rows)
"""
