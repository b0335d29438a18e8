"""Every secret lapsewatch reads, in one place.

In Lambda the secrets come from AWS Secrets Manager through Powertools, which keeps each for
five minutes: the functions ask for a secret each time they use it (Powertools answers from its
cache), so a warm function reads it once per five minutes and a rotated secret is in use within
five minutes, without a redeploy. A registry token the registry refuses (401) is read again at
once, past the cache. Locally they come from the settings' environment. No message, log line or
repr ever carries a secret's value.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities import parameters

SECRET_MAX_AGE = 300


class SecretError(RuntimeError):
    """A secret could not be found or read; the message says where we looked (never the value)."""


class RegistryTokenError(SecretError):
    pass


def registry_token(secret_arn: str = "", token: str = "", *, fresh: bool = False) -> str:
    """The registry's bearer token: from the secret `secret_arn` (LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN)
    when there is one, else `token` itself (LAPSEWATCH_REGISTRY_TOKEN, for local runs). The secret
    holds the token, or JSON `{"token": "..."}`. `fresh` reads the secret past the cache (the
    registry refused the token: it may have been rotated)."""
    if secret_arn.strip():
        return _token_from_secret(secret_arn.strip(), fresh=fresh)
    if token.strip():
        return token.strip()
    raise RegistryTokenError(
        "no registry token: set LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN to a Secrets Manager secret, "
        "or LAPSEWATCH_REGISTRY_TOKEN to the token"
    )


def domainr_credentials(secret_arn: str, *, fresh: bool = False) -> tuple[str | None, str | None]:
    """Domainr's (client id, API key) from a JSON secret `{"client_id": ..., "api_key": ...}`;
    `fresh` reads it past the cache (Domainr refused the key: it may have been rotated)."""
    secret = _secret(secret_arn, as_json=True, fresh=fresh)
    if not isinstance(secret, dict):
        raise SecretError(f"the secret {secret_arn} is not a JSON object")
    return secret.get("client_id") or None, secret.get("api_key") or None


def fastly_api_key(secret_arn: str, *, fresh: bool = False) -> str:
    """Fastly's API key from a JSON secret `{"api_key": ...}`; `fresh` as for Domainr."""
    secret = _secret(secret_arn, as_json=True, fresh=fresh)
    key = secret.get("api_key") if isinstance(secret, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise SecretError(f"the secret {secret_arn} is not JSON with a non-empty string 'api_key'")
    return key.strip()


def _token_from_secret(secret_arn: str, *, fresh: bool) -> str:
    # Not transform="json": the token may be stored plain.
    text = str(_secret(secret_arn, error=RegistryTokenError, fresh=fresh)).strip()
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


def _secret(
    secret_arn: str, *, as_json: bool = False, error: type[SecretError] = SecretError, fresh: bool = False
) -> object:
    try:
        if as_json:
            return parameters.get_secret(
                secret_arn, max_age=SECRET_MAX_AGE, transform="json", force_fetch=fresh
            )
        value = parameters.get_secret(secret_arn, max_age=SECRET_MAX_AGE, force_fetch=fresh)
    except (parameters.exceptions.GetParameterError, parameters.exceptions.TransformParameterError) as exc:
        raise error(f"cannot read the secret {secret_arn}: {exc}") from None
    return value.decode("utf-8") if isinstance(value, bytes) else value
