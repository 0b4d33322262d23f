from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0005_source_kind_gitlab"),
    ]

    operations = [
        migrations.AlterField(
            model_name="source",
            name="kind",
            field=models.CharField(
                choices=[("github", "GitHub"), ("gitlab", "GitLab"), ("pagerduty", "PagerDuty")],
                default="github",
                max_length=20,
            ),
        ),
    ]
