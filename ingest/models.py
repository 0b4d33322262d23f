"""Raw webhook deliveries, stored before they are normalized (CONTRACT §6)."""

from __future__ import annotations

from django.db import models


class WebhookDelivery(models.Model):
    """One verified delivery as received; its delivery id makes a redelivery a no-op."""

    provider = models.CharField(max_length=20)  # github | gitlab | pagerduty
    delivery_id = models.CharField(max_length=200, help_text="X-GitHub-Delivery")
    source = models.CharField(max_length=100, help_text="the source whose secret verified it")
    event = models.CharField(max_length=100, help_text="X-GitHub-Event")
    action = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(null=True, blank=True, help_text="the intake report's counts")
    error = models.TextField(blank=True, help_text="why normalizing failed (kept for a retry)")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "delivery_id"], name="webhookdelivery_unique"
            )
        ]
        indexes = [models.Index(fields=["received_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.event} {self.delivery_id}"
