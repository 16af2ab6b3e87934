"""The registry: deployments, model versions, tokens and settings, and the only writer of them."""
