"""Which ``Host`` headers the server answers: the defence against DNS rebinding.

A web page cannot send a request to ``127.0.0.1:8000`` that the browser treats as its own
origin, unless the page's own host name resolves there. DNS rebinding does exactly that:
``evil.example`` first resolves to the attacker's server, then to ``127.0.0.1``, and the
page's requests carry ``Host: evil.example``. So the server answers only host names that
cannot be rebound (``localhost``, ``*.localhost``, IP addresses, as Vite and
webpack-dev-server do), the name it was told to bind, and names configured with
``--allowed-host`` (a compose service name, say); ``*`` answers any.
"""

import ipaddress
import logging

logger = logging.getLogger("understudy")

ANY = "*"
_CACHE_SIZE = 256
_LOGGED_SIZE = 64
_WILDCARD_BINDS = ("", "0.0.0.0", "::")


def host_name(host: str) -> str | None:
    """The name part of a ``Host`` header, lowercased, without port or trailing dot; None
    when the header is malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        name, _, port = host.partition(":")
    if port and not (port.isascii() and port.isdigit()):
        return None
    name = name.removesuffix(".")
    return name or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """``allowed(host)`` for a server bound to ``bind`` with ``--allowed-host`` names.

    An allowed name is exact, or ``.example.com`` / ``*.example.com`` for that domain and
    every name under it. Answers are cached per header value (a bounded cache: the check
    runs on every request).
    """

    def __init__(self, configured: list[str], bind: str = "") -> None:
        names = {name.strip().lower().removesuffix(".") for name in configured} - {""}
        self.any = ANY in names
        domains = {name.lstrip("*.") for name in names if name.startswith((".", "*."))}
        self.exact = {name for name in names if not name.startswith((".", "*."))} | domains
        self.suffixes = tuple("." + domain for domain in domains if domain)
        bind = bind.strip().lower()
        if bind not in _WILDCARD_BINDS:
            self.exact.add(bind.strip("[]"))
        self._answers: dict[str, bool] = {}
        self._logged: set[str] = set()

    def allowed(self, host: str) -> bool:
        answer = self._answers.get(host)
        if answer is None:
            answer = self._decide(host)
            if len(self._answers) >= _CACHE_SIZE:
                self._answers.clear()
            self._answers[host] = answer
            if not answer and len(self._logged) < _LOGGED_SIZE and host not in self._logged:
                self._logged.add(host)
                logger.warning(
                    "refused a request for Host %r: not a loopback name, an IP address or an "
                    "--allowed-host name (UNDERSTUDY_ALLOWED_HOSTS)",
                    host,
                )
        return answer

    def _decide(self, host: str) -> bool:
        name = host_name(host)
        if name is None:
            return False
        if self.any or name in self.exact or name.endswith(self.suffixes):
            return True
        return name == "localhost" or name.endswith(".localhost") or _is_ip(name)


def refusal_message(host: str) -> str:
    return (
        f"Invalid Host header {host!r}: this server answers loopback names, IP addresses "
        "and the names given with --allowed-host (UNDERSTUDY_ALLOWED_HOSTS)."
    )
