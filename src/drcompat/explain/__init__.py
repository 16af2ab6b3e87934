"""Prediction explanations: model-agnostic Shapley values over a deployment's ONNX model."""
