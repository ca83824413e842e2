"""`registry pull MODEL@ALIAS --into DIR [--reload http://ADMIN]`: deploy a registered bundle.

Layout of DIR: one folder per version, `<model>-<version>/` (the model name with characters
other than letters, digits, `.`, `_`, `-` written `_`), and one link per alias:
`current` (champion), `challenger`, `staging`, each a relative symlink to a version folder,
which a loanscored configuration names (`--bundle DIR/current`, `--challenger DIR/challenger`).

Steps: the bundle is downloaded into a temporary folder inside DIR, every file the manifest
lists is checked against its sha256 (`registry_checks.verify_hashes`; LoanScore checks them
again when it loads the bundle), the folder is renamed to `<model>-<version>/`, and the link
is replaced atomically (a new symlink beside it, then `os.replace`). A version folder already
present whose hashes match is reused, a link already right is left alone: pulling twice changes
nothing. A failed download or hash check removes the temporary folder and leaves the link
where it was. `--reload` then POSTs ADMIN/reload and prints loanscored's answer.
"""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from . import registry, registry_checks as checks
from .features import ToolError

LINK_NAMES = {"champion": "current", "challenger": "challenger", "staging": "staging"}
RELOAD_TIMEOUT = 60.0           # seconds: loanscored loads and verifies the bundle first


@dataclass
class Pulled:
    """What a pull did."""
    model: str
    version: str
    alias: str
    folder: Path
    link: Path
    downloaded: bool
    relinked: bool
    previous_target: str | None


def parse_spec(spec: str) -> tuple[str, str]:
    """`MODEL@ALIAS` → (model, alias); exit 2 when malformed or the alias does not exist."""
    model, at, alias = spec.rpartition("@")
    if not at or not model or not alias:
        raise ToolError(f"{spec!r} is not MODEL@ALIAS (e.g. credit@champion)", registry.CODE_USAGE)
    if alias not in registry.ALIASES:
        raise ToolError(f"alias {alias!r} does not exist: use one of "
                        + ", ".join(registry.ALIASES), registry.CODE_USAGE)
    return model, alias


def folder_name(model: str, version: str) -> str:
    """`<model>-<version>` with unsafe characters of the name written `_`."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", model) + f"-{version}"


def _intact(folder: Path) -> bool:
    try:
        checks.verify_hashes(folder)
        return True
    except ToolError:
        return False


def pull(reg: registry.Registry, spec: str, into: Path) -> Pulled:
    """Downloads the version `spec` names into `into`, checks its hashes and repoints the
    alias's link. Exit 2: bad spec, unknown model, no version holds the alias; exit 3: a hash
    does not match (nothing changed); exit 4: the registry or artifact store failed."""
    model, alias = parse_spec(spec)
    mv = reg.version_by_alias(model, alias)
    if mv is None:
        raise ToolError(f"no version of {model!r} holds the alias {alias!r} (see `registry "
                        "list`)", registry.CODE_USAGE)
    version = str(mv.version)
    into = Path(into)
    try:
        into.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"--into {into}: cannot create it: {e.strerror or e}",
                        registry.CODE_USAGE) from None
    folder = into / folder_name(model, version)
    link = into / LINK_NAMES[alias]
    downloaded = False
    approved = _approval(mv, alias)
    if not (folder.is_dir() and _intact(folder) and _matches(approved, folder)):
        with registry.temporary_folder(f".pull-{folder.name}-", beside=into) as tmp:
            bundle = reg.download_bundle(mv, tmp / "download")
            try:
                checks.verify_hashes(bundle)
            except checks.CheckFailed as e:
                raise ToolError(f"pull of version {version} of {model!r} refused: {e}; "
                                f"{link} left as it was", 3) from None
            if not _matches(approved, bundle):
                _refuse_unapproved(mv, alias, approved, bundle, link)
            if folder.exists() or folder.is_symlink():     # a damaged copy: set it aside
                os.rename(folder, tmp / "damaged")
            os.chmod(bundle, 0o755)
            os.rename(bundle, folder)
        downloaded = True
    previous = os.readlink(link) if link.is_symlink() else None
    relinked = previous != folder.name
    if relinked:
        repoint(link, folder.name)
    return Pulled(model, version, alias, folder, link, downloaded, relinked, previous)


def _approval(mv: Any, alias: str) -> dict | None:
    """The latest approval of `mv` for `alias` that recorded the manifest's digest (approvals
    recorded before digests existed are not checked), or None."""
    approvals = [e for e in registry.promotions(mv) if e.get("alias") == alias and e.get("manifest_sha256")]
    return approvals[-1] if approvals else None


def _matches(approved: dict | None, bundle: Path) -> bool:
    """Whether `bundle`'s manifest.json is the approved one. The manifest carries every other
    file's sha256, so this ties the whole bundle to its approval."""
    return approved is None or checks.manifest_sha256(bundle) == approved["manifest_sha256"]


def _refuse_unapproved(mv: Any, alias: str, approved: dict, bundle: Path, link: Path) -> None:
    """Exit 3: the bundle changed after its approval (a cut-off edited in the artifact store,
    hashes recomputed); nothing is moved into place and the link stays."""
    actual = checks.manifest_sha256(bundle)
    raise ToolError(f"pull of version {mv.version} refused: its manifest.json (sha256 "
                    f"{actual[:12]}…) is not the one approved as {alias} by "
                    f"{approved.get('approved_by', '?')} at {approved.get('approved_at', '?')} "
                    f"(sha256 {approved['manifest_sha256'][:12]}…): the bundle changed after its "
                    f"approval; promote it again. {link} left as it was", 3)


def repoint(link: Path, target: str) -> None:
    """Makes `link` a symlink to `target` atomically: a new link beside it, then os.replace.
    Exit 2 when `link` is a real folder or file (not a link) that must not be replaced."""
    if link.exists() and not link.is_symlink():
        raise ToolError(f"{link} is not a symbolic link; move it away so that pull can manage "
                        "it", registry.CODE_USAGE)
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    try:
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError as e:
        if tmp.is_symlink():
            tmp.unlink()
        raise ToolError(f"cannot repoint {link} to {target}: {e.strerror or e}", 1) from None


def reload(admin: str) -> tuple[int, str]:
    """POSTs `admin`/reload; returns (HTTP status, loanscored's answer on one line).
    Exit 4 when the server cannot be reached or answers other than 200 (422: it refused the
    bundle and kept serving the previous one)."""
    url = admin.rstrip("/") + "/reload"
    if not url.startswith(("http://", "https://")):
        raise ToolError(f"--reload {admin}: give the admin address as http://HOST:PORT",
                        registry.CODE_USAGE)
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=RELOAD_TIMEOUT) as answer:
            return answer.status, _one_line(answer.read())
    except urllib.error.HTTPError as e:
        raise ToolError(f"--reload {url}: loanscored answered {e.code}: {_one_line(e.read())}",
                        registry.CODE_UNREACHABLE) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ToolError(f"--reload {url}: cannot reach loanscored: {reason}",
                        registry.CODE_UNREACHABLE) from None


def _one_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return ", ".join(f"{k}: {v}" for k, v in obj.items())
    except ValueError:
        pass
    return " ".join(text.split())
