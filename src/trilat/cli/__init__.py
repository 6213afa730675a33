"""The ``trilat`` command line."""
