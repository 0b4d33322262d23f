"""GitLab: REST objects and webhook payloads -> CONTRACT §1 events (mapper, webhook)."""
