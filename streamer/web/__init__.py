"""The web layer: ASGI response classes, routes, the library page, middleware.

Built on the HTTP core, sources and media; knows nothing of the command line.
"""
