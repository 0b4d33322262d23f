"""PagerDuty: incidents (REST API v2 objects, webhook v3 events) -> CONTRACT §1 incident events."""
