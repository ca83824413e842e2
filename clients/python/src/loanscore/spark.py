"""Batch scoring on Spark: ``loanscore-spark score`` and :func:`score_files`.

Each executor scores its partitions with :class:`loanscore.LocalScorer` inside ``mapInPandas``
(the bundle shipped with ``SparkContext.addFile`` and checked there by the library's own open),
or, with ``--server``, sends them to a loanscored fleet through :class:`loanscore.Client`.
The output is ``loanscore score``'s: the same columns, the same ids (the schema's id column, else
the input's 1-based row number, whatever the partitioning: :mod:`loanscore._spark_rows`), rows in
input order; rejected rows go to ``--rejects`` with their reasons.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import _spark_executor as executor
from . import _spark_rows as rows_
from .local import LocalScorer
from .errors import (BundleError, ConnectionFailedError, InputError, InvalidApplicationError, LoanScoreError,
                     MissingFieldError, UnknownFieldError)
from .results import DECISION_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkRun", "score_files", "main"]

#: Rejected rows named on standard error when there is no --rejects (``loanscore score`` names 20).
SHOWN_REJECTS = 20


@dataclass(frozen=True, slots=True)
class SparkRun:
    """What a run did (``--json`` prints it)."""

    rows_in: int
    rows_scored: int
    rows_rejected: int
    output: str
    rejects: str | None
    partitions: int


def score_files(spark: SparkSession, *, input: str, output: str, bundle: str | None = None,
                servers: Sequence[str] | None = None, ca: str | None = None, cert: str | None = None,
                key: str | None = None, rejects: str | None = None, input_format: str | None = None,
                partitions: int | None = None, library: str | None = None, multiline: bool = False) -> SparkRun:
    """Scores ``input`` (CSV or Parquet) and writes Parquet like ``loanscore score``.

    Args:
        spark: the session (its master decides where the executors run).
        input: a file, a folder or a glob (several files: rows numbered as if concatenated in
            path order).
        output: the decisions' Parquet folder, replaced when the run succeeds.
        bundle: the bundle folder on the driver; opened (checked) here, shipped to every
            executor and opened (checked) there by :class:`loanscore.LocalScorer`. One Spark
            session ships one folder per name (``SparkContext.addFile``'s rule): score with
            another bundle of the same folder name in a new session.
        servers: instead of ``bundle``, loanscored addresses (``HOST:PORT``); each partition is
            sent to one of them through :class:`loanscore.Client` (``ca``/``cert``/``key`` as
            its arguments, shipped to the executors).
        rejects: the rejects' Parquet folder (``row``, the input's columns,
            ``rejection_reasons``); without it, rejected rows raise
            :class:`InvalidApplicationError` after the decisions are written.
        input_format: ``csv`` or ``parquet``; default from the extension (a folder: Parquet).
        partitions: score in this many partitions (a shuffle of the input); default: the
            input's splits.
        library: the C library's path on the executors (default: ``LOANSCORE_LIBRARY``, else
            the package's own).
        multiline: CSV cells may hold line breaks (each file read by one task).

    Raises:
        BundleError: the driver or an executor refused the bundle.
        ConnectionFailedError / TLSError: the (first) server could not be reached or trusted.
        MissingFieldError / UnknownFieldError: the input's columns do not fit the schema.
        InvalidApplicationError: rows were rejected and ``rejects`` is None.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if (bundle is None) == (servers is None):
        raise ValueError("give exactly one of bundle and servers")
    for path in (output, rejects):
        if path is not None:
            check_replaceable(spark, path)  # before the work, not after it
    fmt = rows_.input_format(input, input_format)
    df, names = rows_.read_input(spark, input, fmt, multiline=multiline)
    spec: executor.LocalSpec | executor.RemoteSpec
    if bundle is not None:
        spec, given, ids_from_input = _local_plan(spark, bundle, library, names, input)
    else:
        assert servers is not None
        spec, given, ids_from_input = _remote_plan(spark, list(servers), ca, cert, key, names, input)
    if partitions is not None:
        df = df.repartition(partitions)
    out_schema = _scored_schema(df, len(names))
    scored = df.mapInPandas(lambda it: executor.score_batches(it, spec, names, given), schema=out_schema)
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = (scored.groupBy(rows_.FILE, rows_.START)
                 .agg(F.min(rows_.MONO), F.count(F.lit(1)), F.sum(F.col(executor.REJECTED).cast("long")))
                 .collect())
        rows_in = sum(int(s[3]) for s in stats)
        rejected = sum(int(s[4] or 0) for s in stats)
        numbered = rows_.with_row_numbers(spark, scored, rows_.split_bases([s[:4] for s in stats]))
        id_column = F.col("id") if ids_from_input else F.col("_row").cast("string")
        decisions = (numbered.filter(~F.col(executor.REJECTED)).orderBy("_row")
                     .select(id_column.alias("id"), *[F.col(c) for c in DECISION_COLUMNS[1:]]))
        _write_parquet(spark, decisions, output)
        refused = (numbered.filter(F.col(executor.REJECTED)).orderBy("_row")
                   .select(F.col("_row").alias("row"), *[F.col(f"_c{i}").alias(n) for i, n in enumerate(names)],
                           F.col(executor.REASONS)))
        if rejects is not None:
            _write_parquet(spark, refused, rejects)
        elif rejected:
            first = refused.limit(SHOWN_REJECTS).collect()
            lines = [f"rejected: {input}: row {r['row']}: {r[executor.REASONS]}" for r in first]
            if rejected > len(first):
                lines.append(f"… and {rejected - len(first)} more; use --rejects PATH to keep them all")
            raise InvalidApplicationError("\n".join([f"{rejected} of {rows_in} row(s) of {input} are invalid", *lines]),
                                          row=int(first[0]["row"]), index=int(first[0]["row"]) - 1)
        return SparkRun(rows_in=rows_in, rows_scored=rows_in - rejected, rows_rejected=rejected, output=output,
                        rejects=rejects, partitions=df.rdd.getNumPartitions())
    finally:
        scored.unpersist()


def _local_plan(spark: SparkSession, bundle: str, library: str | None, names: Sequence[str],
                path: str) -> tuple[executor.LocalSpec, list[int], bool]:
    """Checks the bundle here (the library's open: refused with the CLI's message) and the
    input's columns against its schema, and ships the bundle to the executors."""
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise BundleError(f"{bundle}: no such bundle folder", path=bundle)
    with LocalScorer(bundle, library=library) as scorer:
        _check_columns(scorer, names, path)
        ids_from_input = scorer.id_column is not None and scorer.id_column in names
    spark.sparkContext.addFile(bundle, recursive=True)
    spec = executor.LocalSpec(name=os.path.basename(bundle), digest=executor.manifest_digest(bundle), library=library)
    return spec, list(range(len(names))), ids_from_input


def _remote_plan(spark: SparkSession, servers: list[str], ca: str | None, cert: str | None, key: str | None,
                 names: Sequence[str], path: str) -> tuple[executor.RemoteSpec, list[int], bool]:
    """Connects to the first server here (unreachable or untrusted: fails before any task), lays
    the columns out as ``loanscore score --server`` does, and ships the certificate files."""
    from .client import Client

    with Client(servers[0], ca=ca, cert=cert, key=key) as client:
        welcome = client.connect()
    fields = [f.name for f in welcome.fields]
    missing = [f for f in fields if f not in names]
    if missing:
        raise MissingFieldError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} required by the "
                                "served schema", field=missing[0])
    id_at = next((i for i, n in enumerate(names) if n in ("id", "application_id") and n not in fields), None)
    left_out = [n for i, n in enumerate(names) if n not in fields and i != id_at]
    if left_out:
        print(f"note: {path}: column(s) {', '.join(repr(n) for n in left_out)} are not fields of the served schema "
              f"({welcome.model_name} {welcome.model_version}) and are left out", file=sys.stderr)
    given = [i for i, n in enumerate(names) if n in fields or i == id_at]
    for file in (ca, cert, key):
        if file is not None:
            spark.sparkContext.addFile(os.path.abspath(file))
    spec = executor.RemoteSpec(servers=tuple(servers), ca=ca and os.path.basename(ca),
                               cert=cert and os.path.basename(cert), key=key and os.path.basename(key))
    return spec, given, id_at is not None


def _check_columns(scorer: LocalScorer, names: Sequence[str], path: str) -> None:
    """The header against the bundle's schema, as ``loanscore score`` checks a CSV's header.

    Every field needs a column (a protected field that is not a feature may be left out); no
    column may be unknown (the schema's id column and target column are known); no name twice.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{path}: column '{name}' appears twice in the header", field=name)
        seen.add(name)
    missing = [f.name for f in scorer.fields if f.name not in seen and not f.optional_column]
    if missing:
        raise MissingFieldError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} "
                                f"required by schema '{scorer.schema_name}'", field=missing[0])
    known = {f.name for f in scorer.fields} | {c for c in (scorer.id_column, scorer.target_column) if c}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownFieldError(f"{path}: unknown column(s) {', '.join(repr(u) for u in unknown)}; schema "
                                f"'{scorer.schema_name}' has fields {', '.join(f.name for f in scorer.fields)}",
                                field=unknown[0])


def _scored_schema(df: DataFrame, inputs: int) -> Any:
    """The Spark schema of :func:`loanscore._spark_executor.score_batches`' frames."""
    from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType

    by_name = {f.name: f for f in df.schema.fields}
    decision = [StructField(c, DoubleType() if c in ("pd", "confidence") else StringType(), True) for c in DECISION_COLUMNS]
    return StructType([by_name[rows_.FILE], by_name[rows_.START], by_name[rows_.MONO],
                       StructField(executor.REJECTED, BooleanType(), False), *decision,
                       *[StructField(f"_c{i}", by_name[f"_c{i}"].dataType, True) for i in range(inputs)],
                       StructField(executor.REASONS, StringType(), True)])


class OutputError(Exception):
    """An output path that cannot be written or must not be replaced (exit 3, as ``loanscore score``'s)."""


#: What a finished Spark Parquet output folder holds; anything else at --output is not replaced.
_SPARK_OUTPUT = re.compile(r"^(part-.*|_SUCCESS|_committed_.*|_started_.*|\..*\.crc)$")


def check_replaceable(spark: SparkSession, path: str) -> None:
    """Refuses an existing ``path`` that is not a finished Parquet output of an earlier run.

    The output replaces what is at ``path`` (deleted recursively): a folder of other files (a
    home folder, the input's own folder, ``/``) was once deleted with it.
    """
    jvm: Any = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(path)
    fs = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(target):
        return
    status = fs.getFileStatus(target)
    names = [entry.getPath().getName() for entry in fs.listStatus(target)] if status.isDirectory() else []
    if not status.isDirectory() or "_SUCCESS" not in names or not all(_SPARK_OUTPUT.match(n) for n in names):
        raise OutputError(f"{path} exists and is not an earlier Parquet output of loanscore-spark (a folder of "
                          "part-* files and _SUCCESS); it is not replaced: remove it or choose another path")


def _write_parquet(spark: SparkSession, df: DataFrame, path: str) -> None:
    """Writes ``df`` to a temporary sibling folder, then replaces ``path`` with it (Hadoop FileSystem,
    so the same on a local disk, HDFS or an object store): readers never see half a result."""
    jvm: Any = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    target = jvm.org.apache.hadoop.fs.Path(path)
    fs = target.getFileSystem(conf)
    temporary = jvm.org.apache.hadoop.fs.Path(target.getParent(), f".{target.getName()}.tmp-{uuid.uuid4().hex[:12]}")
    check_replaceable(spark, path)
    try:
        df.write.mode("error").parquet(temporary.toString())
    except Exception as error:
        text = str(error)
        if any(sign in text for sign in ("Mkdirs failed", "Permission denied", "AccessDenied", "Read-only file system")):
            raise OutputError(f"{path}: cannot create the output (does the folder exist and is it writable?)") from None
        raise
    if fs.exists(target):
        check_replaceable(spark, path)
        fs.delete(target, True)
    if not fs.rename(temporary, target):
        raise OSError(f"{path}: cannot move the finished output into place from {temporary.toString()}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loanscore-spark", description="LoanScore batch scoring on Spark.",
        epilog="Exit codes as loanscore's: 0 success, 1 internal error, 2 usage, 3 invalid data "
               "(bundle, input, rejected rows without --rejects), 4 server unreachable or untrusted.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    score = commands.add_parser(
        "score", help="score a CSV or Parquet input into Parquet, as `loanscore score` does",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Scores every application of --input with a bundle (LocalScorer on each executor) or on a\n"
                    "loanscored fleet (--server), writing loanscore score's columns to --output (Parquet):\n"
                    "id (the schema's id column, else the input's 1-based row number, whatever the\n"
                    "partitioning), pd, risk_level, decision, confidence, reasons, reason_texts, flags,\n"
                    "model_version, in input order. Rejected rows go to --rejects (Parquet: row, the input's\n"
                    "columns, rejection_reasons); without --rejects the first are named on standard error\n"
                    "and the command exits 3 after writing the decisions.\n\n"
                    "Several input files (a folder or a glob) are numbered as one file made of them in the\n"
                    "order of their paths.")
    source = score.add_argument_group("model (one of)")
    source.add_argument("--bundle", metavar="DIR", help="the model bundle folder; shipped to the executors, verified there")
    source.add_argument("--server", metavar="HOST:PORT", action="append",
                        help="score on loanscored instead (repeat for a fleet: partitions spread over them)")
    tls = score.add_argument_group("TLS (with --server)")
    tls.add_argument("--ca", metavar="PEM", help="the CA the server's certificate must chain to")
    tls.add_argument("--cert", metavar="PEM", help="client certificate for mutual TLS")
    tls.add_argument("--key", metavar="PEM", help="the client certificate's private key")
    io = score.add_argument_group("input and output")
    io.add_argument("--input", required=True, metavar="PATH", help="a CSV or Parquet file, folder or glob")
    io.add_argument("--input-format", choices=("csv", "parquet"),
                    help="default: from the extension (.csv: CSV; anything else, a folder too: Parquet)")
    io.add_argument("--multiline", action="store_true", help="CSV cells may contain line breaks (one task per file)")
    io.add_argument("--output", required=True, metavar="PATH", help="the decisions (a Parquet folder, replaced on success)")
    io.add_argument("--rejects", metavar="PATH", help="the rejected rows with their reasons (a Parquet folder)")
    run = score.add_argument_group("Spark")
    run.add_argument("--master", metavar="URL", help="e.g. local[2]; default: spark-submit's, else local[*]")
    run.add_argument("--partitions", type=int, metavar="N", help="score in N partitions (default: the input's splits)")
    run.add_argument("--library", metavar="PATH",
                     help="libloanscore.so on the executors (default: LOANSCORE_LIBRARY, else the package's)")
    run.add_argument("--json", action="store_true", help="print a JSON summary on standard output")
    return parser


def _usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.bundle is None) == (args.server is None):
        parser.error("give exactly one of --bundle (LocalScorer on each executor) and --server (a loanscored fleet)")
    if args.bundle is not None:
        for flag in ("ca", "cert", "key"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag} goes with --server, not --bundle")
    if args.server is not None and args.library is not None:
        parser.error("--library goes with --bundle, not --server")
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    if args.partitions is not None and args.partitions < 1:
        parser.error("--partitions must be at least 1")


def _session(master: str | None) -> SparkSession:
    import warnings

    from pyspark.sql import SparkSession

    # pyspark 4.3 warns on every pandas >= 3 use; the job's conversions are tested with pandas 3.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = SparkSession.builder.appName("loanscore-spark").config("spark.sql.caseSensitive", "true")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
            # Local executors run this interpreter (its installed loanscore), not the first python3 on PATH.
            os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def exit_code(error: BaseException) -> tuple[int, str]:
    """The README's exit code and message for an error, including one raised on an executor."""
    if isinstance(error, ConnectionFailedError):
        return 4, str(error)
    if isinstance(error, (BundleError, InputError, OutputError)):
        return 3, str(error)
    text = str(error)
    remote = re.findall(r"^loanscore\.errors\.(\w+): (.*)$", text, flags=re.MULTILINE)
    if remote:
        name, message = remote[-1]
        from . import errors

        cls = getattr(errors, name, LoanScoreError)
        if isinstance(cls, type) and issubclass(cls, ConnectionFailedError):
            return 4, message
        if isinstance(cls, type) and issubclass(cls, (BundleError, InputError)):
            return 3, message
        return 1, f"{name}: {message}"
    if type(error).__name__ == "AnalysisException" and "PATH_NOT_FOUND" in text:
        return 3, text.splitlines()[0]
    if "MALFORMED_RECORD_IN_PARSING" in text or "Malformed records are detected" in text:
        first = next((line for line in text.splitlines() if "Malformed" in line or "MALFORMED" in line), text)
        return 3, f"malformed input: {first.strip()}"
    return 1, text


def main(argv: Sequence[str] | None = None) -> int:
    """``loanscore-spark``: returns the exit code (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    _usage(parser, args)
    try:
        spark = _session(args.master)
    except Exception as error:  # a bad --master, no Java: Spark's own output above says why
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: Spark did not start (--master {args.master or 'default'}): {first}", file=sys.stderr)
        return 2
    try:
        if args.server is not None:
            result = score_files(spark, servers=args.server, ca=args.ca, cert=args.cert, key=args.key,
                                 input=args.input, output=args.output, rejects=args.rejects,
                                 input_format=args.input_format, partitions=args.partitions, multiline=args.multiline)
        else:
            result = score_files(spark, bundle=args.bundle, input=args.input, output=args.output, rejects=args.rejects,
                                 input_format=args.input_format, partitions=args.partitions, library=args.library,
                                 multiline=args.multiline)
    except Exception as error:  # every failure ends as one message and the README's exit code
        code, message = exit_code(error)
        print(f"error: {message}", file=sys.stderr)
        return code
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"{result.rows_scored} of {result.rows_in} application(s) scored -> {result.output}"
              + (f"; {result.rows_rejected} rejected" + (f" -> {result.rejects}" if result.rejects else "")
                 if result.rows_rejected else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
