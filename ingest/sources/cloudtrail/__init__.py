"""AWS CloudTrail: write calls made outside the pipeline as `out_of_band_change` events.

A mapper (`mapper.py`, pure) and its configuration (`config.py`); records come in through
`manage.py import_cloudtrail` (log files, EventBridge events), through `POST
/webhooks/cloudtrail[/<source>]` (`webhook.py`: an EventBridge API destination, configured in
settings' DORA_CLOUDTRAIL_WEBHOOKS), or are mapped by the caller and posted to `POST
/api/v1/events`. Not a registered `sources:` provider: nothing is polled (docs/INFRA-SOURCES.md,
"Changes outside the pipeline").
"""
