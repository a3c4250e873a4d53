"""The offline sign-in authority, beside Graph on the same server: what Microsoft's identity
platform answers to a confidential client, so that azure-identity, @azure/identity and MSAL get
their tokens from the mock unmodified but for the authority's address.

=====================================================  ==========================================
``GET /{tenant}/v2.0/.well-known/openid-configuration``  the OpenID configuration (v1 also)
``POST /{tenant}/oauth2/v2.0/token``                   client credentials: a secret, or a
                                                       client assertion (a JWT naming the app)
``GET /{tenant}/discovery/v2.0/keys``                  the JWKS of the signing key
=====================================================  ==========================================

Tokens are RS256 JWTs signed by the key the mock keeps with its CA (``serve.tls``), for Graph's
audience, with ``tid``, ``appid``/``azp``, ``iat``/``nbf``/``exp`` by the mock's clock and the
app's ``roles``. With no app registered, any client id and secret get every application role of
the operations mocked; ``Config.apps`` (``--app CLIENT_ID:SECRET=ROLE,...``) registers apps,
and then an unknown app or a wrong secret is refused with the OAuth error body and the AADSTS
code the real service sends.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Flask, Response, current_app, request

from mockgraph.features.tokens import GRAPH_AUDIENCE, GRAPH_AUDIENCES, MalformedToken, read_claims
from mockgraph.http.errors import GraphError, StartupError
from mockgraph.http.rendering import plain_json
from mockgraph.resources.keysets.keys import b64url_uint, jwk_thumbprint

if TYPE_CHECKING:
    from mockgraph.state import MockGraph

#: How long a token lives, as the identity platform's client-credential tokens do.
LIFETIME = 3599
_TENANT = "<tenant>"
_APP = re.compile(r"^(?P<client>[^:=\s]+):(?P<secret>[^=]+?)(?:=(?P<roles>.*))?$")

bp = Blueprint("authority", __name__)


class OAuthError(GraphError):
    """An error of the token endpoint, in the OAuth 2.0 body the identity platform sends
    (``error``, ``error_description`` starting ``AADSTS<code>:``, ``error_codes``...)."""

    error: ClassVar[str] = "invalid_request"
    aadsts: ClassVar[int] = 900144

    def body(self, request_id: str, client_request_id: str) -> dict[str, Any]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace = (
            f"\r\nTrace ID: {request_id}\r\nCorrelation ID: {client_request_id}"
            f"\r\nTimestamp: {stamp}"
        )
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.aadsts}: {self.message}{trace}",
            "error_codes": [self.aadsts],
            "timestamp": stamp,
            "trace_id": request_id,
            "correlation_id": client_request_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.aadsts}",
        }


class WrongSecret(OAuthError):
    status, error, aadsts = 401, "invalid_client", 7000215


class UnknownApp(OAuthError):
    status, error, aadsts = 400, "unauthorized_client", 700016


class BadAssertion(OAuthError):
    status, error, aadsts = 401, "invalid_client", 700027


class UnsupportedGrant(OAuthError):
    status, error, aadsts = 400, "unsupported_grant_type", 70003


class MissingParameter(OAuthError):
    status, error, aadsts = 400, "invalid_request", 900144


class InvalidResource(OAuthError):
    status, error, aadsts = 400, "invalid_resource", 500011


@dataclass(frozen=True)
class App:
    """A registered app: its client id, secret and application roles."""

    client_id: str
    secret: str
    roles: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> App:
        """``CLIENT_ID:SECRET=ROLE[,ROLE...]``; raises :class:`StartupError`."""
        found = _APP.match(text.strip())
        if found is None:
            raise StartupError(f"--app {text!r}: expected CLIENT_ID:SECRET=ROLE[,ROLE...]")
        roles = tuple(r.strip() for r in (found["roles"] or "").split(",") if r.strip())
        return cls(found["client"], found["secret"], roles)


@dataclass
class Authority:
    """The apps the authority knows (none: any app is let in with ``default_roles``) and its
    signing key, made (or read from the CA's folder) when first needed."""

    apps: dict[str, App]
    default_roles: tuple[str, ...]
    _key: rsa.RSAPrivateKey | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, apps: Iterable[str], default_roles: Iterable[str]) -> Authority:
        registered = [App.parse(text) for text in apps]
        return cls({a.client_id: a for a in registered}, tuple(sorted(set(default_roles))))

    @cached_property
    def key(self) -> rsa.RSAPrivateKey:
        from mockgraph.serve import tls

        return self._key or tls.signing_key(tls.ensure())

    def jwk(self) -> dict[str, str]:
        """The public signing key as a JWK, its ``kid`` the RFC 7638 thumbprint."""
        numbers = self.key.public_key().public_numbers()
        members = {"kty": "RSA", "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
        return {**members, "use": "sig", "kid": jwk_thumbprint(members)}

    def roles_of(
        self, form: dict[str, str], token_endpoint: str, now: float
    ) -> tuple[str, tuple[str, ...]]:
        """The client id and roles of a client-credentials request; raises :class:`OAuthError`."""
        if form.get("grant_type") != "client_credentials":
            raise UnsupportedGrant(
                "The app requested an unsupported grant type: only client_credentials is offered."
            )
        client_id = form.get("client_id", "")
        if not client_id:
            raise MissingParameter(
                "The request body must contain the following parameter: 'client_id'."
            )
        if form.get("client_assertion"):
            _check_assertion(form["client_assertion"], client_id, token_endpoint, now)
            if self.apps:
                raise BadAssertion(
                    "Client assertion is not accepted for apps registered with a secret."
                )
            return client_id, self.default_roles
        if "client_secret" not in form:
            raise MissingParameter(
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'."
            )
        if not self.apps:
            return client_id, self.default_roles
        app = self.apps.get(client_id)
        if app is None:
            raise UnknownApp(
                f"Application with identifier '{client_id}' was not found in the directory. "
                "This can happen if the application has not been installed by the administrator "
                "of the tenant or consented to by any user in the tenant. You may have sent your "
                "authentication request to the wrong tenant."
            )
        if not secrets.compare_digest(app.secret.encode(), form["client_secret"].encode()):
            raise WrongSecret(
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'."
            )
        return client_id, app.roles

    def token(self, tenant: str, client_id: str, roles: tuple[str, ...], now: float) -> str:
        issued = int(now)
        claims = {
            "aud": GRAPH_AUDIENCE,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": issued,
            "nbf": issued,
            "exp": issued + LIFETIME,
            "appid": client_id,
            "azp": client_id,
            "tid": tenant,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mockgraph:{tenant}:{client_id}")),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mockgraph:{tenant}:{client_id}")),
            "idtyp": "app",
            "roles": list(roles),
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.jwk()["kid"]})


def _check_assertion(assertion: str, client_id: str, token_endpoint: str, now: float) -> None:
    """A client assertion must name the app (``iss`` = ``sub`` = client id), this token
    endpoint as ``aud``, and be current; its signature is not checked (no certificate is
    registered)."""
    try:
        claims = read_claims(assertion)
    except MalformedToken as exc:
        raise BadAssertion(f"The client assertion is not valid: {exc}.") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise BadAssertion("The client assertion's iss and sub must be the client id.")
    if claims.get("aud") != token_endpoint:
        raise BadAssertion("The client assertion's aud must be this token endpoint.")
    exp = claims.get("exp")
    if exp is None or exp <= now:
        raise BadAssertion("The client assertion is expired.")
    if claims.get("nbf") is not None and claims["nbf"] > now:
        raise BadAssertion("The client assertion is not yet valid.")


def _mock() -> MockGraph:
    mock: MockGraph = current_app.extensions["mockgraph"]
    return mock


def _root() -> str:
    return f"{request.scheme}://{request.host}"


@bp.get(f"/{_TENANT}/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str) -> Response:
    root = _root()
    return plain_json(
        {
            "issuer": f"{root}/{tenant}/v2.0",
            "authorization_endpoint": f"{root}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/{tenant}/oauth2/v2.0/token",
            "jwks_uri": f"{root}/{tenant}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }
    )


@bp.get(f"/{_TENANT}/.well-known/openid-configuration")
def openid_configuration_v1(tenant: str) -> Response:
    root = _root()
    return plain_json(
        {
            "issuer": f"https://sts.windows.net/{tenant}/",
            "authorization_endpoint": f"{root}/{tenant}/oauth2/authorize",
            "token_endpoint": f"{root}/{tenant}/oauth2/token",
            "jwks_uri": f"{root}/{tenant}/discovery/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
    )


@bp.get(f"/{_TENANT}/discovery/v2.0/keys")
@bp.get(f"/{_TENANT}/discovery/keys")
def keys(tenant: str) -> Response:
    return plain_json({"keys": [_mock().authority.jwk()]})


@bp.post(f"/{_TENANT}/oauth2/v2.0/token")
def token(tenant: str) -> Response:
    mock = _mock()
    form = request.form.to_dict()
    scope = form.get("scope", "")
    if not scope:
        raise MissingParameter("The request body must contain the following parameter: 'scope'.")
    resource = scope.split()[0].removesuffix("/.default").rstrip("/")
    if resource not in GRAPH_AUDIENCES:
        raise InvalidResource(
            f"The resource principal named {resource} was not found in the tenant."
        )
    now = mock.clock.now()
    endpoint = f"{_root()}/{tenant}/oauth2/v2.0/token"
    client_id, roles = mock.authority.roles_of(form, endpoint, now)
    issued = mock.authority.token(tenant, client_id, roles, now)
    return plain_json(
        {
            "token_type": "Bearer",
            "expires_in": LIFETIME,
            "ext_expires_in": LIFETIME,
            "access_token": issued,
        }
    )


def register(app: Flask) -> None:
    """Serve the authority's endpoints on ``app`` (no token needed)."""
    app.register_blueprint(bp)
