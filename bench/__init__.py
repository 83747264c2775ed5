"""streamer's benchmark harness: ``python -m bench`` compares streamer with nginx and Starlette.

Run from the repository root. See bench/README.md for what it measures and
what it needs (nginx, wrk, curl; matplotlib for the chart).
"""
