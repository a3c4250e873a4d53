"""The lines ``mockgraph serve`` prints once it answers: where Graph, the control API, the
OpenAPI document and the sign-in authority are, how to get a token with a role, how clients
trust the HTTPS certificate, and which options are in force."""

from __future__ import annotations

from pathlib import Path

from mockgraph.config import BASE_PATH, CONTROL_PATH, Config


def banner(
    config: Config, root: str, server: str, threads: int | None, ca: Path | None
) -> list[str]:
    """The banner's lines for a mock served at ``root`` (``scheme://host:port``) by ``server``
    with a pool of ``threads`` (``None``: a thread per request); ``ca`` is the certificate
    clients trust, when it is mockgraph's own."""
    pool = f" ({threads} threads)" if threads is not None else ""
    # Tokens of `mockgraph token` are not signed: refused where signatures are verified.
    token = (
        f"POST {root}/<tenant>/oauth2/v2.0/token  (client credentials)"
        if config.verify_tokens
        else "mockgraph token --roles TrustFrameworkKeySet.ReadWrite.All"
    )
    lines = [
        f"mockgraph serving {root}{BASE_PATH} with {server}{pool}; Ctrl+C to stop",
        f"  Graph       {root}{BASE_PATH}/trustFramework/keySets  ({_tokens(config)})",
        f"  control     {root}{CONTROL_PATH}/requests  (also /reset, /state, /clock, /health)",
        f"  OpenAPI     {root}{CONTROL_PATH}/openapi.json",
        f"  sign-in     {root}/<tenant>/v2.0  (authority for azure-identity, MSAL)",
        f"  a token     {token}",
    ]
    if ca is not None:
        lines.append(
            f"  trust       NODE_EXTRA_CA_CERTS={ca}  SSL_CERT_FILE={ca}  REQUESTS_CA_BUNDLE={ca}"
        )
    in_force = []
    if config.state_file is not None:
        in_force.append(f"state file {config.state_file}")
    elif config.state is not None:
        in_force.append(f"state {config.state}")
    in_force += [f"fault {rule!r}" for rule in config.faults]
    if config.record_dir is not None:
        in_force.append(f"recording into {config.record_dir}")
    if config.apps:
        in_force.append(f"{len(config.apps)} registered app(s)")
    if config.verify_tokens:
        in_force.append("token signatures verified")
    if in_force:
        lines.append("  in force    " + "; ".join(in_force))
    return lines


def _tokens(config: Config) -> str:
    """The bearer tokens Graph's operations accept."""
    if not config.require_auth:
        return "no token needed"
    if config.verify_tokens:
        accepted = "tokens the sign-in authority signed"
    elif config.require_jwt:
        accepted = "any JWT bearer token"
    else:
        accepted = "any bearer token"
    return f"{accepted}; a JWT's roles are checked" if config.check_permissions else accepted
