"""Media knowledge: probing containers and codecs, images made from the media, HLS.

Imports the HTTP core and sources, never the web layer or the server wiring.
"""
