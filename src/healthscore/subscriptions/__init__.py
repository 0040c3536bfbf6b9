"""Health-change webhooks: ``score.changed`` and ``tier.changed`` for every subscriber,
without writing a playbook (``service``; their SQL in ``repository``)."""
