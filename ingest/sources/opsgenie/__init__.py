"""Opsgenie: incidents (Incident API v1 objects) -> CONTRACT §1 incident events."""
