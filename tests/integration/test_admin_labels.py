"""The admin names every model in plain English: plurals as a reader writes them."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.test import Client

# A consonant + "ys" ("deliverys"): a plural Django made by adding "s" to a word in -y.
CLUMSY = re.compile(r"[^aeiou]ys$")


def test_every_model_has_a_plural_a_reader_would_write() -> None:
    labels = {
        model.__name__: model._meta.verbose_name_plural
        for model in apps.get_models()
        if model._meta.app_label in ("dora", "ingest")
    }

    assert labels["WebhookDelivery"] == "webhook deliveries"
    assert labels["ApiToken"] == "API tokens"
    assert labels["DerivePending"] == "pending derivations"
    assert labels["FactsGeneration"] == "facts generation"
    assert not [name for name, label in labels.items() if CLUMSY.search(str(label))], labels


@pytest.mark.django_db
def test_the_admin_index_shows_the_plurals(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", password="pw"))

    html = client.get("/admin/").content.decode()

    for label in ("Webhook deliveries", "API tokens", "Pending derivations"):
        assert f">{label}</a>" in html, label
    assert "deliverys" not in html and "Api tokens" not in html
