"""Credentials: the three Authorization forms DataRobot accepts, checked against hashed tokens.

Tokens are stored only as SHA-256 digests (they are long random secrets, so a fast hash is the
right tool, unlike passwords). The presented token is hashed once and compared with every known
digest in constant time, so neither timing nor early exit tells which tokens exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from drcompat.deployments import Deployment, RegistrySnapshot
from drcompat.errors import Forbidden, Unauthorized

SCHEMES = ("bearer", "token", "basic")


def token_from_header(authorization: str | None) -> str:
    """The API token in ``Bearer <t>``, ``Token <t>`` or ``Basic base64(user:t)``."""
    if not authorization:
        raise Unauthorized("Missing credentials: send 'Authorization: Bearer <API key>'.")
    scheme, _, value = authorization.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme not in SCHEMES or not value:
        raise Unauthorized("Unsupported Authorization header: use 'Bearer <API key>'.")
    if scheme != "basic":
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("Malformed Basic credentials: expected base64 of 'user:API key'.") from exc
    _, sep, token = decoded.partition(":")
    if not sep or not token:
        raise Unauthorized("Malformed Basic credentials: expected base64 of 'user:API key'.")
    return token


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def authenticate(snapshot: RegistrySnapshot, token: str) -> str:
    """The name of the stored token matching ``token``; 401 when none does."""
    presented = digest(token)
    match = ""
    for name, stored in snapshot.token_digests.items():
        if hmac.compare_digest(presented, stored) and not match:
            match = name
    if not match:
        raise Unauthorized("Invalid API key.")
    if match in snapshot.expiries and time.time() > snapshot.expiries[match]:
        raise Unauthorized("This API key has expired.")
    return match


def authorize_jobs(snapshot: RegistrySnapshot, token_name: str) -> None:
    """403 unless the token may manage custom jobs (``manageJobs: true`` in deployments.yaml)."""
    if token_name not in snapshot.job_managers:
        raise Forbidden("This API key may not manage custom jobs (it needs manageJobs: true).")


def authorize_deployments(snapshot: RegistrySnapshot, token_name: str) -> None:
    """403 unless the token may manage deployments, models and tokens (``manageDeployments: true``)."""
    if token_name not in snapshot.deployment_managers:
        raise Forbidden("This API key may not manage deployments (it needs manageDeployments: true).")


def authorize(deployment: Deployment, token_name: str, datarobot_key: str | None) -> None:
    """403 when the token is not scoped to the deployment; 401 for a wrong datarobot-key."""
    if token_name not in deployment.tokens:
        raise Forbidden(f"This API key is not allowed to use deployment {deployment.id}.")
    if deployment.datarobot_key_sha256 is not None:
        expected = bytes.fromhex(deployment.datarobot_key_sha256)
        if not datarobot_key or not hmac.compare_digest(digest(datarobot_key), expected):
            raise Unauthorized("Missing or invalid datarobot-key header for this deployment.")
