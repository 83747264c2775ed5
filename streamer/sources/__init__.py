"""Byte sources: files, memory, synthetic bytes and object stores, read by position.

Imports the HTTP core and nothing above it.
"""
