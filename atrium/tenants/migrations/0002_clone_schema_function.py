"""Installs django-tenants' clone_schema() SQL function once, in the public schema.

django-tenants re-creates it (DROP TYPE … CASCADE included) before every clone, which
two concurrent clones would trip over; installing it here once avoids that.
"""

from django.db import migrations
from django_tenants.clone import CLONE_SCHEMA_FUNCTION


def install_clone_function(apps, schema_editor):
    connection = schema_editor.connection
    if connection.schema_name != "public":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        db_user = cursor.fetchone()[0]
        cursor.execute(CLONE_SCHEMA_FUNCTION.format(db_user=db_user))


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(install_clone_function, migrations.RunPython.noop)]
