"""Ingest inside a node process: AIS and CoT feeds in and out, live analytics, missile warnings.

The package sits beside ``federation``, below ``api``: the API hands it a
:class:`~trilat.ingest.port.NodePort` (accept items, follow accepted items, the view rule), so
it never reaches into the node. ``trilat.ingest.runner.IngestRunner`` runs it all.
"""
