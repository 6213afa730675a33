"""Node settings: environment over TOML over defaults, secrets hidden, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest

from trilat.config import SETTINGS, ConfigError, Secret, load_settings, render_config


def write(directory: Path, **values: object) -> Path:
    (directory / "trilat.toml").write_text(render_config(values))
    return directory


def test_environment_beats_the_file_which_beats_the_defaults(tmp_path: Path) -> None:
    write(tmp_path, nation="KOR", listen="127.0.0.1:9000", body_limit=2048)
    settings = load_settings(tmp_path, environ={"TRILAT_BODY_LIMIT": "4096"})
    assert settings.nation == "KOR"
    assert settings.node_id == "kor-1"
    assert settings.listen == "127.0.0.1:9000"
    assert settings.body_limit == 4096
    assert settings.document_limit == 64 * 1024 * 1024
    assert settings.database_url == f"sqlite:///{tmp_path / 'store.sqlite3'}"


def test_a_database_url_never_shows_in_a_repr(tmp_path: Path) -> None:
    url = "postgresql://trilat:hunter2@db.example/trilat"
    write(tmp_path, nation="USA", database=url)
    settings = load_settings(tmp_path, environ={})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.database)
    assert repr(Secret("x")) == "Secret('********')"
    assert settings.database_url == url


@pytest.mark.parametrize(
    ("values", "environ", "name"),
    [
        ({"nation": "usa"}, {}, "nation"),
        ({"nation": "USA"}, {"TRILAT_LISTEN": "nowhere"}, "listen"),
        ({"nation": "USA"}, {"TRILAT_BODY_LIMIT": "-1"}, "body_limit"),
        ({"nation": "USA", "node_id": "USA 1"}, {}, "node_id"),
    ],
)
def test_malformed_settings_are_refused_naming_the_setting_and_its_source(
    tmp_path: Path, values: dict[str, object], environ: dict[str, str], name: str
) -> None:
    write(tmp_path, **values)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ=environ)
    assert caught.value.name == name
    assert ("TRILAT_" in str(caught.value)) == bool(environ)


def test_unknown_settings_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="trilat init"):
        load_settings(tmp_path, environ={})
    (tmp_path / "trilat.toml").write_text('[node]\nnation = "USA"\nlisten_port = 1\n')
    with pytest.raises(ConfigError, match="listen_port"):
        load_settings(tmp_path, environ={})


def test_every_setting_is_documented() -> None:
    for spec in SETTINGS:
        assert spec.help.endswith(")") or spec.help.endswith(".")
        assert len(spec.help) > 20
        assert spec.env == f"TRILAT_{spec.name.upper()}"
