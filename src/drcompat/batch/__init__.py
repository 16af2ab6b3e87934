"""Batch predictions: files of any size scored in byte-range chunks with the prediction core.

``plan`` cuts a CSV into chunks on record boundaries, ``score`` scores one chunk (one
onnxruntime call), ``assemble`` puts the parts back in input order, ``jobs`` records what a job
is doing, and ``runner`` drives the plan on a local worker pool. The AWS engine (Step Functions'
distributed map over the same plan) lives in ``drcompat_lambda.batch``.
"""
