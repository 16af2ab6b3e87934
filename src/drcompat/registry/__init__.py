"""The registry's write side: the one writer of ``deployments.yaml`` (compare-and-swap).

Reading stays in ``drcompat.deployments`` (the prediction path's view); everything that changes
deployments or tokens (jobs, the management API, CLIs) goes through ``update_registry``.
"""

from drcompat.registry.writer import RegistryConflict, update_registry

__all__ = ["RegistryConflict", "update_registry"]
