"""The MLflow model registry: connecting, logging a training run, versions, aliases and tags.

Every MLflow call of `loanscore-train` goes through this module; `mlflow` is imported here
only, on first use, so that `train` without an MLflow flag never loads it.

Where the registry lives (`resolve_uri`): `--mlflow-uri URI`, else `$MLFLOW_TRACKING_URI`,
else the embedded file `sqlite:///mlruns.db` in the current directory. With a `sqlite:` URI the
artifacts (the bundles) go to the folder `mlartifacts/` beside the database file; with a
tracking server they go where the server puts them (`--artifacts-destination`).

Stages are MLflow aliases (`champion`, `challenger`, `staging`); MLflow's own stages are
deprecated (2.9) and not used. Approvals, lineage and archival are model-version tags
(`TAG_*` below, described in Training/README.md, "Registry"); each approval of a version
adds tags `promotion.<n>.*` with the next n, so the trail keeps every promotion.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .features import ToolError

if TYPE_CHECKING:                      # imported lazily at run time (see module docstring)
    from mlflow import MlflowClient

ALIASES = ("champion", "challenger", "staging")
"""The aliases a version can be promoted to (`champion` is production)."""

DEFAULT_DB = "mlruns.db"
ARTIFACTS_DIR = "mlartifacts"
DEFAULT_EXPERIMENT = "loanscore"
BUNDLE_ARTIFACT = "bundle"                 # the whole bundle folder, in the run's artifacts

TAG_BUNDLE_VERSION = "loanscore.bundle_version"    # the manifest's model.version
TAG_HOLDOUT_AUC = "loanscore.holdout_roc_auc"      # the ensemble's holdout ROC AUC at training
TAG_ARCHIVED = "archived"                           # set when replaced as champion
PROMOTION_PREFIX = "promotion."                     # promotion.<n>.<field>, n = 1, 2, …
PROMOTION_FIELDS = ("alias", "approved_by", "approved_at", "note", "checks", "previous", "waived",
                    "waiver_reason", "manifest_sha256")

CODE_USAGE, CODE_CHECK, CODE_UNREACHABLE = 2, 3, 4
HTTP_RETRIES = "1"            # MLflow's default (7, exponential back-off) waits minutes
HTTP_BACKOFF = "1"
HTTP_TIMEOUT = "20"           # seconds per request to a tracking server


def resolve_uri(given: str | None) -> str:
    """The registry URI: `given`, else `$MLFLOW_TRACKING_URI`, else `sqlite:///mlruns.db`."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_DB}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///PATH` URI (relative to the current directory unless
    PATH starts with `/`), else None."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return Path(uri[len(prefix):]).resolve()


def _quiet_mlflow() -> None:
    """No progress bars, database-migration notices or long HTTP retries on our output."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_RETRIES)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", HTTP_BACKOFF)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT)


def _import_mlflow() -> Any:
    """`import mlflow` (exit 1 naming the package when it is missing), its loggers quietened."""
    try:
        import mlflow
    except ImportError as e:
        raise ToolError(f"the registry needs the Python package `mlflow` ({e}); install it with "
                        "`pip install -e Training` (it is a dependency of loanscore-train)",
                        code=1) from None
    for name in ("mlflow", "alembic", "urllib3"):    # after the import: mlflow sets its own
        logging.getLogger(name).setLevel(logging.ERROR)
    return mlflow


def _first_line(e: BaseException) -> str:
    """The gist of an exception on one line: the OS reason of a failed connection
    (`Connection refused`) rather than the HTTP library's whole chain, else its first line."""
    text = str(e).strip()
    reason = re.search(r"\[Errno -?\d+\] ([^\"')\]]+)", text)
    if reason:
        return reason.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    line = text.splitlines()[0] if text else type(e).__name__
    return line if len(line) <= 300 else line[:300] + "…"


@dataclass
class Registry:
    """An open registry: the URI and the MLflow client on it."""
    uri: str
    client: "MlflowClient"

    # ---- errors ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turns MLflow's exceptions into one-line ToolErrors: a missing model, version or alias
        exits 2, anything the registry could not answer exits 4 (`what` says what was asked)."""
        from mlflow.exceptions import MlflowException
        try:
            yield
        except MlflowException as e:
            code = getattr(e, "error_code", "")
            if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                raise ToolError(f"{what}: {_first_line(e)}", CODE_USAGE) from None
            raise ToolError(f"{what}: {_first_line(e)}", CODE_UNREACHABLE) from None
        except OSError as e:
            raise ToolError(f"{what}: {_first_line(e)}", CODE_UNREACHABLE) from None

    # ---- models, versions, aliases ----------------------------------------------------------

    def model_version(self, model: str, version: str) -> Any:
        """The MLflow ModelVersion; exit 2 naming the model or the version when unknown."""
        self.registered_model(model)
        with self.errors(f"model {model!r} has no version {version}"):
            return self.client.get_model_version(model, str(version))

    def registered_model(self, model: str) -> Any:
        """The MLflow RegisteredModel; exit 2 when the registry has no model of that name."""
        with self.errors(f"the registry {self.uri} has no model {model!r} (see `registry list`)"):
            return self.client.get_registered_model(model)

    def version_by_alias(self, model: str, alias: str) -> Any:
        """The version holding `alias`, or None when no version does (exit 2: unknown model)."""
        from mlflow.exceptions import MlflowException
        self.registered_model(model)
        try:
            return self.client.get_model_version_by_alias(model, alias)
        except MlflowException as e:
            if getattr(e, "error_code", "") in ("INVALID_PARAMETER_VALUE",
                                                "RESOURCE_DOES_NOT_EXIST"):
                return None
            raise ToolError(f"alias {alias!r} of {model!r}: {_first_line(e)}",
                            CODE_UNREACHABLE) from None

    def aliases(self, model: str) -> dict[str, list[str]]:
        """{version: its aliases, sorted} from the registered model (search results of MLflow
        versions do not carry their aliases)."""
        found: dict[str, list[str]] = {}
        for alias, version in (self.registered_model(model).aliases or {}).items():
            found.setdefault(str(version), []).append(alias)
        return {v: sorted(a) for v, a in found.items()}

    def versions(self, model: str) -> list[Any]:
        """Every version of `model`, oldest first (exit 2: unknown model)."""
        self.registered_model(model)
        with self.errors(f"versions of {model!r}"):
            found = list(self.client.search_model_versions(f"name = '{_quote(model)}'"))
        return sorted(found, key=lambda v: int(v.version))

    def set_alias(self, model: str, alias: str, version: str) -> None:
        """Points `alias` of `model` at `version` (moving it from any other version)."""
        with self.errors(f"setting alias {alias!r} of {model!r}"):
            self.client.set_registered_model_alias(model, alias, str(version))

    def delete_alias(self, model: str, alias: str) -> None:
        """Removes `alias` from `model`."""
        with self.errors(f"removing alias {alias!r} of {model!r}"):
            self.client.delete_registered_model_alias(model, alias)

    def set_tags(self, model: str, version: str, tags: Mapping[str, str]) -> None:
        """Sets each of `tags` on `version` of `model` (one request per tag)."""
        with self.errors(f"tagging version {version} of {model!r}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(model, str(version), key, value)

    def delete_tag(self, model: str, version: str, key: str) -> None:
        """Removes tag `key` from `version` of `model`."""
        with self.errors(f"untagging version {version} of {model!r}"):
            self.client.delete_model_version_tag(model, str(version), key)

    def download_bundle(self, mv: Any, into: Path) -> Path:
        """Downloads version `mv`'s bundle (its run's `bundle` artifact) into the folder `into`
        (created); returns the bundle folder. Exit 4 when the artifact store cannot be read."""
        import mlflow.artifacts
        if not mv.run_id:
            raise ToolError(f"version {mv.version} of {mv.name!r} has no run, hence no bundle "
                            "artifact; register it with `loanscore-train train --register`",
                            CODE_CHECK)
        into.mkdir(parents=True, exist_ok=True)
        with self.errors(f"downloading the bundle of version {mv.version} of {mv.name!r}"):
            path = mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path=BUNDLE_ARTIFACT, dst_path=str(into),
                tracking_uri=self.uri)
        return Path(path)


def _quote(name: str) -> str:
    """A name inside a single-quoted MLflow search filter."""
    return name.replace("\\", "\\\\").replace("'", "\\'")


def connect(uri: str | None, *, create: bool = False) -> Registry:
    """Opens the registry at `resolve_uri(uri)` and checks it answers.

    `create=False` (every `registry` command) refuses, exit 4, an embedded `sqlite:` file that
    does not exist rather than creating an empty registry; `train --register` creates it.
    Exit 4 when a tracking server cannot be reached; exit 1 when mlflow is not installed.
    """
    uri = resolve_uri(uri)
    db = sqlite_path(uri)
    if db is not None and not create and not db.is_file():
        raise ToolError(f"no registry at {uri} ({db} does not exist): give --mlflow-uri or "
                        "MLFLOW_TRACKING_URI, or register a model first with `loanscore-train "
                        "train --register NAME`", CODE_UNREACHABLE)
    if db is not None and not create:
        _refuse_foreign_database(db, uri)
    if db is not None and create:
        db.parent.mkdir(parents=True, exist_ok=True)
    _quiet_mlflow()
    mlflow = _import_mlflow()
    try:
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        registry = Registry(uri, client)
        with registry.errors("connecting"):
            client.search_experiments(max_results=1)
    except ToolError as e:
        reason = str(e).removeprefix("connecting: ")
        raise ToolError(f"the registry at {uri} could not be reached: {reason}",
                        CODE_UNREACHABLE) from None
    except Exception as e:      # a malformed URI, an unsupported scheme, a broken database
        raise ToolError(f"the registry at {uri} could not be opened: {_first_line(e)}",
                        CODE_UNREACHABLE) from None
    return registry


def _refuse_foreign_database(db: "Path", uri: str) -> None:
    """Exit 4 unless `db` is an SQLite database holding MLflow's registry tables: opening
    another database through MLflow would add its ~30 tables to it (MLflow migrates the schema
    on connect). Read only; the file is not changed."""
    import sqlite3
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as e:
        raise ToolError(f"{uri}: {db} is not an SQLite database ({e}); give the registry's "
                        "mlruns.db", CODE_UNREACHABLE) from None
    if not {"registered_models", "model_versions"} <= found:
        raise ToolError(f"{uri}: {db} is not an MLflow registry (no registered_models table); "
                        "refusing to add MLflow's tables to it. Give the registry's mlruns.db",
                        CODE_UNREACHABLE)


def artifact_location(uri: str) -> str | None:
    """For a `sqlite:` registry, the artifact root beside the database (`mlartifacts/`, as a
    file URI); None for a tracking server (it decides)."""
    db = sqlite_path(uri)
    return (db.parent / ARTIFACTS_DIR).as_uri() if db is not None else None


def experiment_id(reg: Registry, name: str) -> str:
    """The id of experiment `name`, created (artifacts beside a `sqlite:` database) if new."""
    with reg.errors(f"experiment {name!r}"):
        found = reg.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        return reg.client.create_experiment(name, artifact_location=artifact_location(reg.uri))


@contextlib.contextmanager
def temporary_folder(prefix: str, beside: Path | None = None) -> Iterator[Path]:
    """A temporary folder removed afterwards (in `beside` when given, so a rename is atomic)."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=str(beside) if beside else None) as tmp:
        yield Path(tmp)


def promotion_tags(n: int, fields: Mapping[str, Any]) -> dict[str, str]:
    """`{"promotion.<n>.<field>": text}` for the `n`th approval of a version (PROMOTION_FIELDS;
    `checks`, a list, as JSON text)."""
    return {f"{PROMOTION_PREFIX}{n}.{k}": (json.dumps(v) if isinstance(v, list) else str(v))
            for k, v in fields.items() if k in PROMOTION_FIELDS}


def promotions(mv: Any) -> list[dict[str, Any]]:
    """The approvals recorded on version `mv`, in the order they were made: dicts with `n`,
    `version` and the PROMOTION_FIELDS found (`checks` as a list)."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in (mv.tags or {}).items():
        if not key.startswith(PROMOTION_PREFIX):
            continue
        n, _, field = key[len(PROMOTION_PREFIX):].partition(".")
        if not n.isdigit() or field not in PROMOTION_FIELDS:
            continue
        if field in ("checks", "waived"):
            try:
                value = json.loads(value)
            except ValueError:
                value = [value]
        found.setdefault(int(n), {"n": int(n), "version": str(mv.version)})[field] = value
    return [found[n] for n in sorted(found)]
