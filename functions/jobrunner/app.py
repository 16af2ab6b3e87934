"""JobRunnerFunction: runs custom (retraining) jobs on EventBridge Scheduler events."""

from drcompat_lambda.jobrunner import build_handler

handler = build_handler()
