"""The network seam of federation: a two-method ``Transport`` and a fault-injecting wrapper.

``HttpTransport`` speaks HTTP(S) through one pooled ``httpx.Client`` per peer link.
TLS to a peer is decided by the peer's pinned card, never by the system CAs:

- the card carries ``tls_sha256`` (SHA-256 of the DER SubjectPublicKeyInfo of the peer's
  TLS certificate): the connection uses a context with no CA and no host-name check, and
  the socket class of that context compares the server certificate's SPKI digest with the
  pin inside the handshake call itself, so a mismatch closes the socket before one byte of
  HTTP (headers, node signature or body) is written;
- an https URL without a pin is refused unless the operator configured a CA bundle
  (``federation_ca_bundle``), which then verifies chain and host name;
- a plain http URL is allowed to loopback hosts only, unless ``federation_allow_plain_http``.

A refusal raises ``TlsRefused`` (a ``PeerError``). ``FaultTransport`` wraps any transport
and drops, delays, partitions or loses the answer of requests on command: tests and
benchmarks use it on real servers, never in place of them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from trilat.core.errors import PeerError

_PIN: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = ""


class Transport(Protocol):
    """Send one request to a peer; raises PeerError when no answer came back."""

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response: ...

    def close(self) -> None: ...


class TlsRefused(PeerError):
    """A request to a peer was not sent: plain http, no pin, or the wrong TLS key."""


def spki_sha256(certificate: x509.Certificate) -> str:
    """The pin of *certificate*: hex SHA-256 of the DER of its SubjectPublicKeyInfo."""
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def certificate_pin(path: Path) -> str:
    """The pin of the PEM certificate at *path* (its first certificate: the leaf).

    Raises OSError when the file cannot be read, ValueError when it holds no certificate.
    """
    return spki_sha256(x509.load_pem_x509_certificate(path.read_bytes()))


def is_pin(text: object) -> bool:
    return isinstance(text, str) and _PIN.fullmatch(text) is not None


class PinMismatch(ssl.SSLCertVerificationError):
    """The server's certificate does not carry the pinned public key."""


def _check_pin(pin: str, der: bytes | None) -> None:
    if der is None:
        raise PinMismatch(f"TLS pin mismatch: server sent no certificate (pinned {pin[:16]})")
    try:
        found = spki_sha256(x509.load_der_x509_certificate(der))
    except ValueError:
        found = "unparsable certificate"
    if found != pin:
        raise PinMismatch(f"TLS pin mismatch: server key {found[:16]}, pinned {pin[:16]}")


class _PinnedSocket(ssl.SSLSocket):
    """Checks the pin as the last step of the handshake (``wrap_socket`` closes on error)."""

    pin: ClassVar[str] = ""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_pin(self.pin, self.getpeercert(binary_form=True))


class _PinnedObject(ssl.SSLObject):
    """The same check for memory-BIO connections (TLS inside a tunnel)."""

    pin: ClassVar[str] = ""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_pin(self.pin, self.getpeercert(binary_form=True))


def pinned_context(pin: str) -> ssl.SSLContext:
    """A client context that trusts exactly the server key whose SPKI SHA-256 is *pin*.

    No CA store and no host name take part: the pin alone decides, checked in the
    handshake call before the connection is handed to HTTP.
    """
    if not is_pin(pin):
        raise ValueError("a TLS pin is 64 lower-case hex digits")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin check below replaces chain validation
    context.sslsocket_class = type("PinnedSocket", (_PinnedSocket,), {"pin": pin})
    context.sslobject_class = type("PinnedObject", (_PinnedObject,), {"pin": pin})
    return context


@dataclass(frozen=True, slots=True)
class Outbound:
    """The node's rules for peers without a pin (settings ``federation_*``)."""

    allow_plain_http: bool = False  # http to non-loopback hosts
    ca_bundle: Path | None = None  # verifies https peers whose card has no pin


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(url: str, pin: str | None, outbound: Outbound) -> str | None:
    """Why a request to *url* must not be sent under these rules, or None."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        if pin is None and outbound.ca_bundle is None:
            return "https peer card carries no tls_sha256 pin and no federation_ca_bundle is set"
        return None
    if parts.scheme == "http":
        if pin is not None:
            return "peer card pins a TLS key but its URL is plain http"
        if not _loopback(parts.hostname or "") and not outbound.allow_plain_http:
            return (
                "plain http to a non-loopback peer is refused "
                "(set federation_allow_plain_http to allow it)"
            )
        return None
    return f"unsupported URL scheme {parts.scheme!r}"


class HttpTransport:
    """HTTP(S) with a connection pool, to one peer: pinned TLS when *pin* is given."""

    def __init__(self, *, pin: str | None = None, outbound: Outbound | None = None) -> None:
        self.pin = pin
        self.outbound = outbound or Outbound()
        self._broken: str | None = None
        verify: Any = True  # never used for https: refused below without a pin or CA bundle
        if pin is not None:
            verify = pinned_context(pin)
        elif self.outbound.ca_bundle is not None:
            try:
                verify = ssl.create_default_context(cafile=str(self.outbound.ca_bundle))
            except (OSError, ssl.SSLError) as exc:
                self._broken = f"federation_ca_bundle unreadable: {type(exc).__name__}"
        self._client = httpx.Client(
            verify=verify,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            trust_env=False,
        )

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response:
        reason = refusal(url, self.pin, self.outbound)
        if reason is None and self._broken is not None and url.startswith("https:"):
            reason = self._broken
        if reason is not None:
            raise TlsRefused(f"{method} {url}: {reason}")
        try:
            response = self._client.request(
                method,
                url,
                headers=dict(headers),
                content=body,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            )
        except httpx.HTTPError as exc:
            cause = _tls_cause(exc)
            if cause is not None:
                raise TlsRefused(f"{method} {url}: {cause}") from exc
            raise PeerError(f"{method} {url}: {type(exc).__name__}") from exc
        return Response(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    def close(self) -> None:
        self._client.close()


def _tls_cause(exc: BaseException) -> str | None:
    """The certificate refusal behind an httpx error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, PinMismatch):
            return str(seen.args[0]) if seen.args else "TLS pin mismatch"
        if isinstance(seen, ssl.SSLCertVerificationError):
            detail = getattr(seen, "verify_message", None) or getattr(seen, "reason", None)
            return f"TLS certificate refused: {detail or type(seen).__name__}"
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass
class Faults:
    """What ``FaultTransport`` does to the next requests; change it from another thread."""

    partitioned: set[str] = field(default_factory=set)  # URL prefixes that are unreachable
    delay: float = 0.0  # seconds added before each request
    drop_next: int = 0  # requests refused before sending
    lose_answer_next: int = 0  # requests sent, whose answer is then lost


class FaultTransport:
    """Wrap *inner* and inject the faults of ``self.faults`` (drop, delay, partition)."""

    def __init__(self, inner: Transport, faults: Faults | None = None) -> None:
        self.inner = inner
        self.faults = faults or Faults()
        self._lock = threading.Lock()

    def _take(self, name: str) -> bool:
        with self._lock:
            count = getattr(self.faults, name)
            if count > 0:
                setattr(self.faults, name, count - 1)
                return True
            return False

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> Response:
        if any(url.startswith(prefix) for prefix in self.faults.partitioned):
            raise PeerError(f"{method} {url}: partitioned")
        if self.faults.delay > 0:
            time.sleep(min(self.faults.delay, timeout))
        if self._take("drop_next"):
            raise PeerError(f"{method} {url}: dropped")
        response = self.inner.request(method, url, headers=headers, body=body, timeout=timeout)
        if self._take("lose_answer_next"):
            raise PeerError(f"{method} {url}: answer lost")
        return response

    def close(self) -> None:
        self.inner.close()
