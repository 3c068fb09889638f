"""The ``suixin`` command: one module per command group, each with ``register(commands)``.

Owns all argument parsing of the service (no other package imports ``argparse``): ``main``
builds the parser, ``_common`` holds what every group shares (settings from arguments, opening
the office, the console). Groups: ``chain``, ``serve`` (serve, node, worker), ``keys``,
``apikeys``, ``issue``, ``audit``, ``lifecycle``, ``registry``, ``demo``.

May import anything in ``service`` (it is a top layer, with ``api`` and ``web``); nothing in
``service`` imports it.
"""

from service.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
