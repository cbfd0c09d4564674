"""post_migrate as SQL: the content types and permissions Django's post_migrate handlers
(``create_contenttypes``, ``create_permissions``) would create in a tenant schema, rendered
once per group from the same migration state the handlers read, as two set-based
``INSERT … SELECT … WHERE NOT EXISTS`` that run in each schema's replay transaction."""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import _get_all_permissions
from django.db import connection
from django.db.migrations.state import ModelState, ProjectState

Key = tuple[str, str]


def post_migrate_rows(state: ProjectState) -> tuple[list[Key], list[tuple]] | None:
    """The content types and permissions Django's post_migrate handlers create for the
    state ``state``, in their order; ``None`` when the models aren't the usual ones."""
    state = state.clone()
    state.clear_delayed_apps_cache()
    apps = state.apps
    with apps.bulk_update():  # what the migrate command does before post_migrate
        keys = []
        for model_state in apps.real_models:
            keys.append((model_state.app_label, model_state.name_lower))
            apps.unregister_model(*keys[-1])
    apps.render_multiple([ModelState.from_model(global_apps.get_model(*key)) for key in keys])
    try:
        content_type = apps.get_model("contenttypes", "ContentType")
    except LookupError:
        return [], []
    if [f.name for f in content_type._meta.concrete_fields] != ["id", "app_label", "model"]:
        return None
    try:
        permission = apps.get_model("auth", "Permission")
    except LookupError:
        permission = None
    if permission and [f.attname for f in permission._meta.concrete_fields] != [
        "id",
        "name",
        "content_type_id",
        "codename",
    ]:
        return None
    types, perms = [], []
    for config in global_apps.get_app_configs():
        if config.models_module is None:
            continue
        try:
            models = list(apps.get_app_config(config.label).get_models())
        except LookupError:
            continue
        types.extend((config.label, model._meta.model_name) for model in models)
        if permission:
            for model in models:
                for codename, name in _get_all_permissions(model._meta):
                    perms.append((config.label, model._meta.model_name, codename, name))
    return types, perms


def post_migrate_sql(state: ProjectState) -> list[str] | None:
    """Two statements that create, in the active schema, the missing content types and
    permissions post_migrate would create (as literal SQL, the same for every schema)."""
    rows = post_migrate_rows(state)
    if rows is None:
        return None
    types, perms = rows
    compose = connection.ops.compose_sql
    sql = []
    if types:
        values = ", ".join(["(%s, %s, %s)"] * len(types))
        params = [p for i, row in enumerate(types) for p in (*row, i)]
        sql.append(
            compose(
                "INSERT INTO django_content_type (app_label, model) "
                f"SELECT v.app_label, v.model FROM (VALUES {values}) AS v(app_label, model, ord) "
                "WHERE NOT EXISTS (SELECT 1 FROM django_content_type c "
                "WHERE c.app_label = v.app_label AND c.model = v.model) ORDER BY v.ord",
                params,
            )
        )
    if perms:
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(perms))
        params = [p for i, row in enumerate(perms) for p in (*row, i)]
        sql.append(
            compose(
                "INSERT INTO auth_permission (name, content_type_id, codename) "
                f"SELECT v.name, c.id, v.codename FROM (VALUES {values}) "
                "AS v(app_label, model, codename, name, ord) "
                "JOIN django_content_type c ON c.app_label = v.app_label AND c.model = v.model "
                "WHERE NOT EXISTS (SELECT 1 FROM auth_permission p "
                "WHERE p.content_type_id = c.id AND p.codename = v.codename) ORDER BY v.ord",
                params,
            )
        )
    return sql
