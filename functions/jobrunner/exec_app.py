"""JobExecFunction: runs one custom job for the platform, with no AWS permission of its own."""

from drcompat_lambda.jobexec import build_handler

handler = build_handler()
