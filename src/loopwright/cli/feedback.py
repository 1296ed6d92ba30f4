"""``loopwright feedback DEPLOYMENT --file labels.csv``: record labels or outcomes of logged predictions.

The file (CSV or Parquet) holds one row per request id: the id column (``request_id`` by default) and
the label column (``label`` by default). Ids are read as text. A request id that is not in the
deployment's prediction log is not recorded: the command lists such ids and exits with status 1, so a
script notices; ``--strict`` records nothing at all when any id is unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loopwright.cli._render import output_console
from loopwright.cli._state import open_client
from loopwright.errors import DataInputError, NotFoundError

__all__ = ["record_feedback", "register"]


def record_feedback(
    context: typer.Context,
    deployment: Annotated[str, typer.Argument(metavar="DEPLOYMENT", help="The deployment that served them.")],
    file: Annotated[
        Path, typer.Option("--file", "-f", help="A CSV or Parquet file: a request id and a label per row.")
    ],
    id_column: Annotated[str, typer.Option("--id-column", help="The column of request ids.")] = "request_id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="The column of labels or outcomes.")
    ] = "label",
    strict: Annotated[
        bool, typer.Option("--strict", help="Record nothing if any request id is not in the prediction log.")
    ] = False,
) -> None:
    """Record labels (or outcomes) of a deployment's predictions by request id, for monitoring to join.

    Recording a request id again replaces its label. Exits with status 1 when some request ids are not in
    the deployment's prediction log (they are not recorded).
    """
    pairs = _read_pairs(file, id_column, label_column)
    with open_client(context) as client:
        report = client.log_feedback(deployment, pairs, on_unknown="raise" if strict else "report")
    output_console().print(report.summary(), highlight=False, soft_wrap=True)
    if report.unknown:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``feedback`` to the root app."""
    app.command("feedback")(record_feedback)


def _read_pairs(file: Path, id_column: str, label_column: str) -> list[tuple[Any, Any]]:
    """``(request id, label)`` of every row of a CSV or Parquet file; ids as text."""
    import pyarrow as pa

    if not file.is_file():
        raise NotFoundError(f"The labels file {file} does not exist.", kind="file", key=str(file))
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            columns = pq.read_schema(file).names
            _check_columns(file, columns, id_column, label_column)
            table = pq.read_table(file, columns=[id_column, label_column])
        elif file.suffix.lower() in (".csv", ".txt"):
            import pyarrow.csv as pcsv

            convert = pcsv.ConvertOptions(
                column_types={id_column: pa.string()}, include_columns=[id_column, label_column]
            )
            with pcsv.open_csv(file) as reader:
                _check_columns(file, reader.schema.names, id_column, label_column)
            table = pcsv.read_csv(file, convert_options=convert)
        else:
            raise DataInputError(
                f"The labels file must be a .csv or .parquet file. Got {file.name!r} instead.",
                path=str(file),
            )
    except pa.ArrowException as error:
        raise DataInputError(f"The labels file {file} could not be read: {error}", path=str(file)) from None
    ids = table.column(id_column)
    if not pa.types.is_string(ids.type):
        ids = ids.cast(pa.string())
    return list(zip(ids.to_pylist(), table.column(label_column).to_pylist(), strict=True))


def _check_columns(file: Path, columns: list[str], id_column: str, label_column: str) -> None:
    for column, option in ((id_column, "--id-column"), (label_column, "--label-column")):
        if column not in columns:
            raise DataInputError(
                f"The labels file {file.name} has no column {column!r}. Its columns: "
                f"{', '.join(map(repr, columns)) or 'none'}. Name the column with {option}.",
                path=str(file),
                column=column,
            )
