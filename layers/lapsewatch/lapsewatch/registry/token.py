"""The registry's bearer token: from AWS Secrets Manager in Lambda, from the environment locally."""

from __future__ import annotations

import json
import os

SECRET_ARN_ENV = "LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN"
TOKEN_ENV = "LAPSEWATCH_REGISTRY_TOKEN"
# Powertools keeps the secret this long, so a warm Lambda reads it once per five minutes and a
# rotated token is picked up without a redeploy.
SECRET_MAX_AGE = 300


class RegistryTokenError(RuntimeError):
    """No token could be found or read; the message says where we looked (never the token)."""


def registry_token() -> str:
    """The token from the secret named by LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN, else from
    LAPSEWATCH_REGISTRY_TOKEN.

    The secret may hold the token itself, or JSON `{"token": "..."}`.
    """
    secret_arn = os.environ.get(SECRET_ARN_ENV, "").strip()
    if secret_arn:
        return _token_from_secret(secret_arn)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    raise RegistryTokenError(
        f"no registry token: set {SECRET_ARN_ENV} to a Secrets Manager secret, or {TOKEN_ENV} to the token"
    )


def _token_from_secret(secret_arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    try:
        secret = parameters.get_secret(secret_arn, max_age=SECRET_MAX_AGE)
    except parameters.exceptions.GetParameterError as exc:
        raise RegistryTokenError(f"cannot read the registry token secret {secret_arn}: {exc}") from None
    text = (secret.decode("utf-8") if isinstance(secret, bytes) else str(secret)).strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        token = document.get("token")
        if not isinstance(token, str) or not token.strip():
            raise RegistryTokenError(f"the secret {secret_arn} is JSON without a non-empty string 'token'")
        return token.strip()
    if not text:
        raise RegistryTokenError(f"the secret {secret_arn} is empty")
    return text
