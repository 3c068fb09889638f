"""The issuing office's HTTP API (FastAPI): routes, dependencies, errors, models, metrics.

``service.app`` serves it together with the pages (``service.web``) as one application.

May import every domain package, ``runtime``, ``config`` and ``clock``; never ``web``, ``cli``
or ``app``.
"""
