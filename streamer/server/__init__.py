"""Server wiring: settings, the application factory, the command line.
"""
