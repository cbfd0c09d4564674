"""Stored e-mails in their canonical form (issue 11): plain uniqueness instead of Lower().

Rows written before kept Python's ``lower()`` of what was typed, so an address with a
full-width letter, a decomposed accent or an invisible character is rewritten here to the
form that login now compares. If two accounts of one schema turn out to be the same
address, the migration stops for that schema and names them: which one keeps the address
is a decision for a person, not for a migration.
"""

from collections import defaultdict

from django.db import migrations, models

from atrium.platform.accounts.emails import canonical_email


def canonicalize_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    connection = schema_editor.connection
    by_canonical = defaultdict(list)
    for pk, email in User.objects.using(connection.alias).values_list("pk", "email"):
        by_canonical[canonical_email(email)].append((pk, email))
    clashes = {c: rows for c, rows in by_canonical.items() if len(rows) > 1}
    if clashes:
        listed = "; ".join(
            f"{canonical}: " + ", ".join(f"{email!r} (id {pk})" for pk, email in rows)
            for canonical, rows in sorted(clashes.items())
        )
        raise RuntimeError(
            f"Schema {connection.schema_name!r} has accounts that are one e-mail address "
            f"once canonical ({listed}). Change the e-mail of all but one of each "
            "(UPDATE accounts_user SET email = … in that schema), then migrate again."
        )
    for canonical, [(pk, email)] in by_canonical.items():
        if email != canonical:
            User.objects.using(connection.alias).filter(pk=pk).update(email=canonical)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunPython(canonicalize_emails, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(model_name="user", name="user_email_unique_ci"),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(max_length=254, unique=True),
        ),
    ]
