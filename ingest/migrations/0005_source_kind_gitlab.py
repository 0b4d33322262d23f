from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0004_webhookdelivery_plural_label"),
    ]

    operations = [
        migrations.AlterField(
            model_name="source",
            name="kind",
            field=models.CharField(
                choices=[("github", "GitHub"), ("gitlab", "GitLab")],
                default="github",
                max_length=20,
            ),
        ),
    ]
