"""Writing report tables: Parquet with raw values, CSV safe to open in a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FORMULA_PREFIXES", "neutralise_formulas", "write_table"]

#: A text cell starting with one of these is read as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with ``'``.

    Follows OWASP's advice on CSV injection: a text cell starting with ``=``,
    ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe. Numeric
    columns are left alone, so numbers stay numbers.

    Parameters
    ----------
    df : DataFrame
        A report table.

    Returns
    -------
    DataFrame
        A copy with its text cells neutralised.

    Examples
    --------
    >>> df = pd.DataFrame({"c": ["=SUM(A1)", "ok"], "n": [-1, 2]})
    >>> neutralise_formulas(df)["c"].tolist()
    ["'=SUM(A1)", 'ok']
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype.kind in "biufcmM":
            continue
        is_text = s.map(lambda v: isinstance(v, str), na_action="ignore") \
            .fillna(False).astype(bool)
        if not is_text.any():
            continue
        text = s[is_text].astype(str)
        risky = text.str.startswith(FORMULA_PREFIXES)
        if risky.any():
            s = s.astype(object).copy()
            s.loc[risky[risky].index] = "'" + text[risky]
            out[col] = s
    return out


def write_table(df: pd.DataFrame, directory: Path, name: str) -> None:
    """Write ``name.parquet`` (raw values) and ``name.csv`` (formulas neutralised)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), directory / f"{name}.parquet",
                   compression="zstd")
    neutralise_formulas(df).to_csv(directory / f"{name}.csv", index=False,
                                   lineterminator="\n")
