from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0006_platformauditevent"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="require_mfa_for_admins",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
