"""PredictFunction: DataRobot's predictions route behind API Gateway (see src/drcompat_lambda)."""

from drcompat_lambda.handler import build_handler

handler, app = build_handler("drcompat-predict")
