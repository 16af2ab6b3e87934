"""The headers every answer carries (DataRobot's CORS set) and the request-line measure, with no
framework: the middleware adds them to the app's answers, the Lambda direct path to its own."""

from __future__ import annotations

EXPOSED = ",".join(
    [
        "Content-Type",
        "Content-Length",
        "X-DataRobot-Execution-Time",
        "X-DataRobot-Model-Cache-Hit",
        "X-DataRobot-Model-Id",
        "X-DataRobot-Request-Id",
    ]
)
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"OPTIONS, POST"),
    (b"access-control-allow-credentials", b"true"),
    (b"access-control-expose-headers", EXPOSED.encode()),
    (b"access-control-allow-headers", b"Content-Type,Authorization,datarobot-key,Content-Encoding,Accept"),
]


def line_length(method: str, path: bytes, query: bytes) -> int:
    """Bytes of ``METHOD /path?query HTTP/1.1``."""
    return len(method) + 1 + len(path) + (1 + len(query) if query else 0) + len(" HTTP/1.1")
