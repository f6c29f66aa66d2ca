"""Which values are credentials by where they stand: a mapping's key, a URL's parts.

Rule 1: a value under a credential key (``token``, ``apiKey``,
``client_secret`` ..., in any case or spelling) is never written or shown:
the sinks' configs leave it out, the web dashboard masks it.

Rule 2: a URL loses its userinfo and its query (a tracking URI's password,
a presigned URL's signature) wherever it is written or shown.
"""

from __future__ import annotations

import re

__all__ = ["CREDENTIAL_KEYS", "credential_key", "safe_url"]


CREDENTIAL_KEYS = frozenset(
    {"token", "accesstoken", "apikey", "password", "secret", "clientsecret", "authorization"}
)
"""Mapping keys (lower case, without ``_`` or ``-``) whose values are credentials."""


def credential_key(key: object) -> bool:
    """Whether a mapping's value under ``key`` is a credential (``token``, ``apiKey``,
    ``client_secret`` ..., in any case or spelling): never written or shown.

    Examples:
        >>> credential_key("apiKey"), credential_key("API-KEY"), credential_key("name")
        (True, True, False)
    """
    return isinstance(key, str) and key.lower().replace("_", "").replace("-", "") in CREDENTIAL_KEYS


_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<user>[^\s/?#\"'<>]*@)?"
    r"(?P<rest>[^\s?#\"'<>]*)"
    r"(?P<query>\?[^\s\"'<>]*)?"
)


def _url(match: re.Match[str]) -> str:
    user = "<redacted>@" if match["user"] else ""
    query = "?<redacted>" if match["query"] else ""
    return f"{match['scheme']}{user}{match['rest']}{query}"


def safe_url(text: str) -> str:
    """``text`` without the credentials its URLs may carry: their userinfo and their query.

    A presigned dataset URL holds its signature in the query (``?sig=...``,
    with any fragment after it), a tracking URI its password in the userinfo
    (``user:pass@``); neither is ever written to a sink or shown. Every URL in
    the text is cleaned, the rest is returned as it is.

    Examples:
        >>> safe_url("https://blob.example/d.jsonl?sv=1&sig=s3cret")
        'https://blob.example/d.jsonl?<redacted>'
        >>> safe_url("http://user:p@ss@mlflow:5000/")
        'http://<redacted>@mlflow:5000/'
        >>> safe_url("cannot read https://blob.example/d.jsonl?sig=s3cret: 403")
        'cannot read https://blob.example/d.jsonl?<redacted> 403'
        >>> safe_url("arkorlab/triage-demo")
        'arkorlab/triage-demo'
    """
    if "://" not in text:
        return text
    return _URL.sub(_url, text)
