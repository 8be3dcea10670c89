"""Notifications: what they say and the channels that deliver them.

One job per module, imported from the module (this package imports nothing, so that
:mod:`workbench.config` can use :mod:`~workbench.notify.smtp_config` without loading the rest):

- :mod:`~workbench.notify.message`: the :class:`Notification` value and its templates;
- :mod:`~workbench.notify.report`: each delivery's attempts and outcome, and the delivery errors;
- :mod:`~workbench.notify.channel`: the ``Channel`` contract, ``Target`` and the channel names;
- :mod:`~workbench.notify.smtp_config`: ``WORKBENCH_SMTP_URL`` and ``WORKBENCH_MAIL_FROM``;
- :mod:`~workbench.notify.email`: SMTP delivery;
- :mod:`~workbench.notify.signature`: the HMAC signature of webhook bodies;
- :mod:`~workbench.notify.http_delivery`: guarded POSTs with retries and backoff;
- :mod:`~workbench.notify.webhook`: signed JSON webhooks;
- :mod:`~workbench.notify.chat_hooks`: Slack and Discord incoming webhooks;
- :mod:`~workbench.notify.senders`: the channels by name, and ``send(channel, target, notification)``.

See docs/notifications.md.
"""
