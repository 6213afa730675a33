"""Agreement files on disk: the IO edge of :mod:`trilat.core.agreements`.

A directory holds one ``*.toml`` file per agreement. The shipped set (SPEC §3) lives in the
package under ``trilat/data/agreements``. Loading is all or nothing: any bad file, a
duplicate id or an unreadable directory raises :class:`AgreementError` naming the file, the
key and the reason, so that a caller can fail closed (see :func:`load_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from trilat.core.agreements import Agreement, parse_agreement
from trilat.core.errors import AgreementError
from trilat.core.policy import Policy

__all__ = ["check_agreements", "load_agreements", "load_policy", "shipped_directory"]

_MAX_FILE_BYTES = 1 << 20  # an agreement is a page of TOML; refuse anything absurd


def shipped_directory() -> Path:
    """The directory of the agreements that ship with trilat."""
    return Path(str(resources.files("trilat") / "data" / "agreements"))


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise AgreementError(str(directory), "-", "not a readable directory")
    try:
        return sorted(p for p in directory.iterdir() if p.suffix == ".toml" and p.is_file())
    except OSError as exc:
        raise AgreementError(str(directory), "-", f"cannot list the directory: {exc}") from exc


def _read(path: Path) -> Agreement:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AgreementError(path.name, "-", f"cannot read the file: {exc.strerror}") from exc
    if len(raw) > _MAX_FILE_BYTES:
        raise AgreementError(path.name, "-", "file is larger than 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgreementError(path.name, "-", f"not UTF-8 at byte {exc.start}") from exc
    return parse_agreement(text, source=path.name)


def check_agreements(
    directory: Path | None = None,
) -> tuple[list[Agreement], list[AgreementError]]:
    """Read every file of *directory* (None = the shipped set) and collect every problem.

    Returns the agreements that parsed and the errors found (bad files, duplicate ids, an
    empty or unreadable directory); ``trilat agreements validate`` prints them all.
    """
    folder = shipped_directory() if directory is None else directory
    try:
        files = _files(folder)
    except AgreementError as exc:
        return [], [exc]
    agreements: list[Agreement] = []
    errors: list[AgreementError] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            agreement = _read(path)
        except AgreementError as exc:
            errors.append(exc)
            continue
        if agreement.id in seen:
            errors.append(
                AgreementError(
                    path.name, "id", f"{agreement.id} is also defined in {seen[agreement.id]}"
                )
            )
            continue
        seen[agreement.id] = path.name
        agreements.append(agreement)
    if not files:
        errors.append(AgreementError(str(folder), "-", "no *.toml agreement files"))
    return agreements, errors


def load_agreements(directory: Path | None = None) -> list[Agreement]:
    """Every agreement of *directory* (None = the shipped set), ordered by id.

    Raises AgreementError for the first problem found: nothing is loaded from a directory
    that has any bad file.
    """
    agreements, errors = check_agreements(directory)
    if errors:
        raise errors[0]
    return sorted(agreements, key=lambda a: a.id)


def load_policy(
    directory: Path | None = None,
    tetragraphs: Mapping[str, frozenset[str]] | None = None,
) -> Policy:
    """A Policy over *directory*'s agreements that fails closed when they cannot be loaded.

    On any AgreementError the policy holds no agreement, so every classified decision
    denies, and each denial quotes the error.
    """
    try:
        agreements = load_agreements(directory)
    except AgreementError as exc:
        return Policy([], tetragraphs, problems=(f"agreements not loaded: {exc}",))
    return Policy(agreements, tetragraphs)
