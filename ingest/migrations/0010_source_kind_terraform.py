from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0009_source_kind_git"),
    ]

    operations = [
        migrations.AlterField(
            model_name="source",
            name="token_env",
            field=models.CharField(
                blank=True,
                default="GITHUB_TOKEN",
                help_text="environment variable with the token",
                max_length=100,
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="kind",
            field=models.CharField(
                choices=[
                    ("github", "GitHub"),
                    ("gitlab", "GitLab"),
                    ("pagerduty", "PagerDuty"),
                    ("opsgenie", "Opsgenie"),
                    ("git", "Git repository"),
                    ("terraform", "HCP Terraform"),
                ],
                default="github",
                max_length=20,
            ),
        ),
    ]
