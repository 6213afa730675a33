"""HTTPS for a node: ``trilat init --tls`` makes its certificate, ``tls_cert`` and ``tls_key``
come as a pair, and ``trilat serve`` refuses a certificate it cannot use (exit 2)."""

from __future__ import annotations

import ipaddress
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.test_node_cli import trilat
from trilat.config import ConfigError, load_settings, render_config


def test_init_tls_makes_a_p256_certificate_for_the_listen_host_and_a_private_key(
    tmp_path: Path,
) -> None:
    node = tmp_path / "jpn"
    trilat("init", str(node), "--nation", "JPN", "--listen", "jpn.example:8702", "--tls")
    settings = load_settings(node, environ={})
    assert settings.tls_cert == node / "tls.crt"
    assert settings.tls_key == node / "tls.key"
    assert stat.S_IMODE((node / "tls.key").stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((node / "tls.crt").read_bytes())
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"jpn.example", "localhost"}
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=729) < lifetime < timedelta(days=731)
    assert certificate.issuer == certificate.subject  # self-signed: partners pin its key


def test_init_tls_on_an_ip_address_names_that_address(tmp_path: Path) -> None:
    node = tmp_path / "kor"
    trilat("init", str(node), "--nation", "KOR", "--listen", "10.1.2.3:8703", "--tls")
    certificate = x509.load_pem_x509_certificate((node / "tls.crt").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("127.0.0.1"),
    }


@pytest.mark.parametrize(
    ("values", "environ", "missing"),
    [
        ({"tls_cert": "tls.crt"}, {}, "tls_key"),
        ({"tls_key": "tls.key"}, {}, "tls_cert"),
        ({}, {"TRILAT_TLS_CERT": "/etc/trilat/tls.crt"}, "tls_key"),
    ],
)
def test_a_tls_certificate_without_its_key_or_a_key_alone_is_refused(
    tmp_path: Path, values: dict[str, str], environ: dict[str, str], missing: str
) -> None:
    (tmp_path / "trilat.toml").write_text(render_config({"nation": "USA", **values}))
    with pytest.raises(ConfigError, match="together") as caught:
        load_settings(tmp_path, environ=environ)
    assert caught.value.name == missing


def test_tls_and_outbound_settings_come_from_the_file_and_the_environment(
    tmp_path: Path,
) -> None:
    (tmp_path / "trilat.toml").write_text(
        render_config({"nation": "USA", "federation_allow_plain_http": True})
    )
    settings = load_settings(
        tmp_path,
        environ={
            "TRILAT_TLS_CERT": "/etc/trilat/tls.crt",
            "TRILAT_TLS_KEY": "keys/tls.key",
            "TRILAT_FEDERATION_CA_BUNDLE": "partners.pem",
        },
    )
    assert settings.tls_cert == Path("/etc/trilat/tls.crt")
    assert settings.tls_key == tmp_path / "keys" / "tls.key"
    assert settings.federation_ca_bundle == tmp_path / "partners.pem"
    assert settings.federation_allow_plain_http is True
    overridden = load_settings(tmp_path, environ={"TRILAT_FEDERATION_ALLOW_PLAIN_HTTP": "no"})
    assert overridden.federation_allow_plain_http is False
    assert overridden.tls_cert is None
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"TRILAT_FEDERATION_ALLOW_PLAIN_HTTP": "maybe"})
    assert caught.value.name == "federation_allow_plain_http"


def test_serve_refuses_an_unreadable_certificate_or_a_key_of_another_certificate(
    tmp_path: Path,
) -> None:
    node, other = tmp_path / "usa", tmp_path / "jpn"
    trilat("init", str(node), "--nation", "USA", "--listen", "127.0.0.1:0", "--tls")
    trilat("init", str(other), "--nation", "JPN", "--listen", "127.0.0.1:0", "--tls")
    (node / "tls.key").write_bytes((other / "tls.key").read_bytes())
    done = trilat("serve", str(node), check=False)
    assert done.returncode == 2
    assert "tls_key: cannot use" in done.stderr
    (node / "tls.crt").unlink()
    done = trilat("serve", str(node), check=False)
    assert done.returncode == 2
    assert "tls_cert: cannot read" in done.stderr
