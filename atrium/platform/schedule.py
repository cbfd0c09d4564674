"""The beat schedule: the platform's entries plus the periodic tenant work of every app.

An app declares its periodic work on its AppConfig, a ``@tenant_task`` name -> a Celery
schedule::

    class CatalogConfig(AppConfig):
        tenant_periodic_tasks = {"catalog.purge_deleted": crontab(hour=3, minute=37)}

``install(app)`` adds one entry per task to the Celery app's beat schedule (the settings'
``CELERY_BEAT_SCHEDULE``, which holds the platform's own entries) when the app is
finalized, which a beat process does after Django has loaded the apps and before it reads
its schedule. Each entry sends ``platform.run_for_active_tenants(name)``, which sends the
task once in the scope of each active tenant (not provisioning, suspended or archived ones).
So adding an app with periodic work edits nothing shared but ``TENANT_APPS``.
``ATRIUM_TENANT_PERIODIC_TASKS``, when the settings set it, replaces what the apps declare
(the live test settings run a schedule of their own).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from atrium.conf import atrium_settings

FAN_OUT_TASK = "platform.run_for_active_tenants"
# A fan-out that waited an hour in the queue (workers down) is dropped, not run late on top
# of the next one.
FAN_OUT_EXPIRES = 60 * 60


def tenant_periodic_tasks() -> dict[str, Any]:
    """Every periodic tenant task, name -> schedule (see the module docstring)."""
    declared = atrium_settings.TENANT_PERIODIC_TASKS
    if declared is not None:
        return dict(declared)
    tasks: dict[str, Any] = {}
    for config in apps.get_app_configs():
        for name, schedule in getattr(config, "tenant_periodic_tasks", {}).items():
            if name in tasks:
                raise ImproperlyConfigured(
                    f"The periodic task {name!r} is declared by two apps (the second: "
                    f"{config.name}); keep it in the app that defines the task."
                )
            tasks[name] = schedule
    return tasks


def fan_out_entries(tasks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One beat entry per tenant task: the fan-out to every active tenant on its schedule."""
    return {
        f"{name} for every active tenant": {
            "task": FAN_OUT_TASK,
            "schedule": schedule,
            "args": (name,),
            "options": {"expires": FAN_OUT_EXPIRES},
        }
        for name, schedule in tasks.items()
    }


def add_tenant_periodic_tasks(sender, **_: Any) -> None:
    """``on_after_finalize``: the app's beat schedule gains the apps' fan-out entries."""
    entries = fan_out_entries(tenant_periodic_tasks())
    clash = set(entries) & set(sender.conf.beat_schedule)
    if clash:
        raise ImproperlyConfigured(f"Beat entries named twice: {', '.join(sorted(clash))}.")
    # A new dict: the settings' CELERY_BEAT_SCHEDULE itself stays the platform's entries.
    sender.conf.beat_schedule = {**sender.conf.beat_schedule, **entries}


def install(app) -> None:
    app.on_after_finalize.connect(add_tenant_periodic_tasks, weak=False)
