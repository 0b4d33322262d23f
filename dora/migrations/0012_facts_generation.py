from django.db import migrations, models


def first_row(apps, schema_editor):
    apps.get_model("dora", "FactsGeneration").objects.create(id=1, value=0)


class Migration(migrations.Migration):
    dependencies = [("dora", "0011_deployment_target_success_index")]

    operations = [
        migrations.CreateModel(
            name="FactsGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(first_row, migrations.RunPython.noop),
    ]
