"""BatchFunction: the batch engine's Step Functions tasks (see src/drcompat_lambda/batch.py)."""

from drcompat_lambda.batch import build_handler

handler = build_handler()
