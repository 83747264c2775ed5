"""``python -m streamer`` is the ``streamer`` command."""

from streamer.server.cli import main

main()
