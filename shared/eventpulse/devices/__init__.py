"""Field devices, the pure rules: tokens and their hashes, enrollment, command life, alerts, row binding.

Nothing here does I/O; the registry port is ``eventpulse.ports.devices``, its adapters live in
``eventpulse.adapters`` and the routes in ``eventpulse.api``.
"""
