"""`auditstream dashboard build`: regenerate the PBIP folder and the `.pbix` from the spec."""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from dashboard.pbir import json_text, pbip_json, report_files
from dashboard.reproducible import build_epoch
from dashboard.spec import NAME
from dashboard.tmdl import semantic_model_files
from shared.atomic import atomic_write_text
from shared.outputs import kind_of, not_regular

log = logging.getLogger(__name__)

SAMPLE_EXPORTS = Path(__file__).parent / "sample_exports"
#: Power BI Desktop's own state beside a project it opened (localSettings.json, the model's
#: data cache cache.abf): per user, never generated, kept by a build (and git-ignored).
DESKTOP_STATE = ".pbi"


def project_files(root: Path) -> dict[Path, str]:
    """Every file of the PBIP project under `root` -> its text."""
    model, report = root / f"{NAME}.SemanticModel", root / f"{NAME}.Report"
    files = {model / rel: text for rel, text in semantic_model_files().items()}
    files |= {report / rel: json_text(doc) for rel, doc in report_files().items()}
    files[root / f"{NAME}.pbip"] = json_text(pbip_json())
    return files


def check_project_folders(root: Path) -> None:
    """Refuse (`not_regular`, exit 2) a symbolic link, or anything but a folder, at a folder
    of the project under `root`: the build wrote the project through a link at
    `<name>.Report` and removed every other file of the linked folder, exit 0."""
    files = project_files(root)
    for folder in sorted({root / up for path in files
                          for up in path.relative_to(root).parents if up != Path(".")}):
        try:
            kind = os.lstat(folder).st_mode
        except (FileNotFoundError, NotADirectoryError):  # `root` a file: the lock says so
            continue
        except OSError as exc:  # `root` a symbolic link loop: the lock says so too (it was
            if exc.errno != errno.ELOOP:  # an OSError traceback, exit 70)
                raise
            continue
        if not stat.S_ISDIR(kind):
            raise not_regular(folder, kind_of(kind))


def write_pbip(root: Path) -> Path:
    """Bring `<root>/<name>.SemanticModel/`, `.Report/` and `.pbip` to what the spec says;
    return the `.pbip`.

    A file already as generated is left alone (a second build changes nothing, not even a
    date); one that differs is replaced whole (`shared.atomic`); a file of the two folders
    the spec no longer makes (a dropped table, page or visual) is removed, but not Desktop's
    `.pbi/` state. The folders are never removed whole: Desktop or a reader never sees the
    project empty, and Desktop's cache survives a rebuild.
    """
    check_project_folders(root)  # before anything is written or removed
    files = project_files(root)
    for path, text in files.items():
        if not (path.is_file() and path.read_bytes() == text.encode("utf-8")):
            atomic_write_text(path, text, durable=False)  # never half a file
    for folder in (root / f"{NAME}.SemanticModel", root / f"{NAME}.Report"):
        stale = [p for p in folder.rglob("*") if p not in files
                 and DESKTOP_STATE not in p.relative_to(folder).parts]
        for path in sorted(stale, reverse=True):  # a folder's files before the folder
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            else:
                path.unlink()
    return root / f"{NAME}.pbip"


def build(root: Path, exports_dir: Path = SAMPLE_EXPORTS, pbix: bool = True) -> list[Path]:
    """Write the PBIP project into `root` and, unless `pbix` is False, the `.pbix` beside it.
    The `.pbix`'s time (`build_epoch`: a malformed `SOURCE_DATE_EPOCH` or run.json time is
    `BuildEpochError`) is taken once, before anything is written or scipy, which reads the
    variable too, is imported. A run.json that is not a JSON object, or an exports table
    missing or not as the model types it, is a `UsageError` before anything is written."""
    epoch = build_epoch(exports_dir) if pbix else None
    from dashboard.pbix import build_pbix, sample_payloads

    # The snapshot is read (a missing or damaged exports file refused) before anything is
    # written: a refused build leaves the project as it was.
    payloads = sample_payloads(exports_dir) if pbix else None
    root.mkdir(parents=True, exist_ok=True)
    written = [write_pbip(root)]
    if epoch is not None:
        written.append(build_pbix(root, exports_dir, root / f"{NAME}.pbix", epoch, payloads))
    return written
