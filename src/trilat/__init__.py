"""trilat: a federated, label-enforcing information-sharing node for allied partners."""

__version__ = "0.1.0.dev0"
