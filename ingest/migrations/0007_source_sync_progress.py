from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0006_source_kind_pagerduty"),
    ]

    operations = [
        migrations.AddField(
            model_name="source",
            name="sync_progress",
            field=models.CharField(blank=True, max_length=300),
        ),
    ]
