"""Outgoing webhooks of a tenant, signed per the Standard Webhooks specification.

An endpoint (``WebhookEndpoint``) subscribes to event types of the one catalogue
(``atrium.platform.events``); the events sink (``sink.enqueue_deliveries``) records one
``WebhookDelivery`` per event and subscribed endpoint after commit and kicks the tenant's
drain (``tasks.drain``, on the ``webhooks`` queue), which sends them (``delivery.py``),
records every attempt and schedules retries. The URL rules against SSRF are in
``urls_guard.py``; signing in ``signing.py``.
"""
