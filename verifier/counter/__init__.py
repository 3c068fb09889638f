"""A counter (核验窗口) on the verifier: OpenID4VP requests, their answers and receipts
(``core``), and the standalone web app a partner runs with ``suixin-verify counter`` (``app``).

An application on the library, like the command line: ``import verifier`` does not load it
(it needs FastAPI); the office's own counter page uses ``core`` too.
"""
