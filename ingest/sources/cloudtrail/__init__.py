"""AWS CloudTrail: write calls made outside the pipeline as `out_of_band_change` events.

A mapper (`mapper.py`, pure) and its configuration (`config.py`); records come in through
`manage.py import_cloudtrail` (log files, EventBridge events) or are mapped by the caller and
posted to `POST /api/v1/events`. Not a registered provider: nothing is polled and no webhook is
taken yet (docs/INFRA-SOURCES.md, "Changes outside the pipeline").
"""
