"""The entry file for ``spark-submit``: ``spark-submit [Spark options] …/loanscore/spark_submit.py score …``.

``spark-submit`` runs a Python file, not a console script; this one runs :func:`loanscore.spark.main`
with the arguments that follow it (absolute imports, so it works outside the package's context).
"""
import sys

from loanscore.spark import main

if __name__ == "__main__":
    sys.exit(main())
