"""Custom jobs (retraining jobs): metadata, runtime parameters, credentials, runs, templates.

A job is a folder with an entry point shell script (``run.sh`` by default), a ``metadata.yaml``
declaring runtime parameters, and any other files. Parameters reach the job exactly as
DataRobot's runtime delivers them: ``MLOPS_RUNTIME_PARAM_<fieldName>`` holding JSON
``{"type": ..., "payload": ...}``, which ``datarobot_drum.RuntimeParameters.get`` reads.
"""
