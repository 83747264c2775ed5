"""The HTTP core: pure functions from request headers and a representation to a response plan.

No I/O, no event loop, no web framework here (``tests/test_layering.py`` reads the imports).
"""
