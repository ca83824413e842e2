"""Reading the Spark job's input and numbering its rows as ``loanscore score`` numbers them.

``loanscore score`` names an application by the schema's id column, else by its 1-based data
row in the file. Spark reads a file in splits that may be packed into partitions in any order,
so the row number is rebuilt from where each row came from:

- while the input is scanned, each row gets its file (``_file``), the byte offset of its split
  (``_start``) and ``monotonically_increasing_id()`` (``_mono``), which counts the rows of a
  partition in scan order (a split's rows are read in file order, contiguously, by one task);
- once every row is scored, one small aggregation gives each split its first ``_mono`` and its
  row count; splits ordered by (file path, offset) then give each split the number of rows before
  it, and ``row = rows before the split + (_mono - first _mono of the split) + 1``.

Both steps use the same scan of the same job's rows (the scored rows are persisted), so the
numbers do not depend on how Spark split or packed the files, how many partitions scored them,
or a retried task. Several input files (a folder or a glob) are numbered as if concatenated in
the order of their paths (sorted as strings), each file's header row left out.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The columns the scan adds (all start with "_", which the input's own columns are renamed away from).
FILE, START, MONO = "_file", "_start", "_mono"


@dataclass(frozen=True, slots=True)
class SplitBase:
    """One split of the input: ``row = _mono + base`` for each of its rows."""

    file: str
    start: int
    base: int


def input_format(path: str, given: str | None) -> str:
    """``csv`` or ``parquet``: as given, else from the path's extension (a folder: Parquet)."""
    if given is not None:
        return given
    lowered = path.lower().rstrip("/")
    if lowered.endswith((".csv", ".csv.gz", ".csv.bz2", ".txt")):
        return "csv"
    return "parquet"


def read_input(spark: SparkSession, path: str, fmt: str, *, multiline: bool = False) -> tuple[DataFrame, list[str]]:
    """The input with its columns renamed ``_c0``, ``_c1``… plus ``_file``/``_start``/``_mono``.

    CSV is read as text (every column a string, as ``loanscore score`` reads it: the scorer
    parses the cells), RFC 4180 quoting (a doubled quote inside quotes), an empty cell as null
    (missing), a record with the wrong number of cells refused (``FAILFAST``). ``multiline``
    allows line breaks inside quoted cells (each file is then read by one task).

    Returns:
        the DataFrame and the input's column names (header names with surrounding spaces
        removed, as ``loanscore score`` does), in file order.
    """
    from pyspark.sql import functions as F

    if fmt == "csv":
        reader = (spark.read.option("header", True).option("inferSchema", False).option("escape", '"')
                  .option("mode", "FAILFAST").option("multiLine", multiline).option("encoding", "UTF-8"))
        df = reader.csv(path)
    elif fmt == "parquet":
        df = spark.read.parquet(path)
    else:
        raise ValueError(f"unknown input format {fmt!r} (csv or parquet)")
    names = [name.strip() for name in df.columns]
    renamed = [F.col(f"`{name}`").alias(f"_c{i}") for i, name in enumerate(df.columns)]
    numbered = df.select(*renamed, F.col("_metadata.file_path").alias(FILE),
                         F.col("_metadata.file_block_start").alias(START),
                         F.monotonically_increasing_id().alias(MONO))
    return numbered, names


def split_bases(stats: Sequence[Any]) -> list[SplitBase]:
    """Each split's base from (file, start, first _mono, rows) tuples, in the documented order."""
    bases: list[SplitBase] = []
    before = 0
    for file, start, first, count in sorted((tuple(s) for s in stats), key=lambda s: (s[0], s[1])):
        bases.append(SplitBase(file=file, start=int(start), base=before + 1 - int(first)))
        before += int(count)
    return bases


def with_row_numbers(spark: SparkSession, scored: DataFrame, bases: Sequence[SplitBase]) -> DataFrame:
    """``scored`` with ``_row``, the 1-based input row (a broadcast join with the splits' bases)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType([StructField(FILE, StringType(), False), StructField(START, LongType(), False),
                         StructField("_base", LongType(), False)])
    table = spark.createDataFrame([(b.file, b.start, b.base) for b in bases], schema)
    joined = scored.join(F.broadcast(table), on=[FILE, START], how="inner")
    return joined.withColumn("_row", F.col(MONO) + F.col("_base"))
