#!/bin/sh
# Retraining job: train a scikit-learn pipeline on fresh data, convert it to ONNX, check it on a
# holdout, and leave the candidate in $DRC_OUTPUT_DIR. The platform publishes it as a new model
# version; a retraining policy then promotes it only if it is compatible and not worse.
set -eu
echo "retraining for deployment: ${DEPLOYMENT_ID:-none}"
python3 train.py
echo "candidate written to ${DRC_OUTPUT_DIR}"
