#!/bin/sh
# FrontDoor=FunctionUrl with FunctionUrlInvokeMode=RESPONSE_STREAM: the handler is this script.
# The Lambda Web Adapter layer (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs it at cold start and
# forwards every function-URL request to uvicorn on AWS_LWA_PORT, streaming the answer back.
# The same script serves ExplainFunction (functions/explain/run.sh is a copy).
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/opt/python:${LAMBDA_TASK_ROOT:-.}${LAMBDA_RUNTIME_DIR:+:$LAMBDA_RUNTIME_DIR}"
exec python -m uvicorn --factory drcompat_lambda.web:build_app \
    --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" --lifespan off --no-access-log --log-level warning
