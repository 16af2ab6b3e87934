"""drcompat: the AWS-free core of a DataRobot-compatible prediction service on ONNX models.

Everything that knows the domain lives here (deployments, model store and cache, wire codecs,
scoring, response shaping); the FastAPI app in ``drcompat.api`` and the Lambda handlers in
``functions/`` are thin adapters over it.
"""

__version__ = "0.1.0"
