"""annotate.longtable: the one reader and integer coding of long annotation tables that
agreement and aggregation share, each with its own column names, error type and strictness."""

import numpy as np
import pandas as pd
import pytest

from annotate.aggregation import AggregationInputError
from annotate.aggregation._table import TABLE as AGGREGATION
from annotate.agreement import AgreementDataError
from annotate.agreement._table import TABLE as AGREEMENT
from annotate.longtable import LongTableError, is_missing, missing_mask

ROWS = [("p2", "bo", "low"), ("p1", "ann", "high"), ("p2", "ann", "low")]


def shapes(value_column: str) -> dict[str, object]:
    columns = {
        "item": [row[0] for row in ROWS],
        "annotator": [row[1] for row in ROWS],
        value_column: [row[2] for row in ROWS],
    }
    return {
        "tuples": ROWS,
        "iterator": iter(ROWS),
        "lists": columns,
        "arrays": {name: np.array(values) for name, values in columns.items()},
        "frame": pd.DataFrame({**columns, "extra": 0}),
    }


@pytest.mark.parametrize(("table", "value_column"), [(AGREEMENT, "value"), (AGGREGATION, "label")])
def test_every_shape_reads_and_codes_the_same(table, value_column):
    for name, data in shapes(value_column).items():
        coded = [table.factorize(column, "item") for column in table.read(data)]
        assert [codes.tolist() for codes, _ in coded] == [[1, 0, 1], [1, 0, 0], [1, 0, 1]], name
        assert [uniques.tolist() for _, uniques in coded] == [
            ["p1", "p2"],
            ["ann", "bo"],
            ["high", "low"],
        ], name


@pytest.mark.parametrize(
    ("table", "error"), [(AGREEMENT, AgreementDataError), (AGGREGATION, AggregationInputError)]
)
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([("p1", "ann", "x"), ("p1", "bo")], "row 1 .* must be a 3-tuple"),
        ({"item": [1, 2], "annotator": ["a"], "value": [1, 2], "label": [1, 2]}, "differ"),
        ({"post": [1], "annotator": ["a"], "value": [1], "label": [1]}, "expected"),
        ("item,annotator,value", "not a str"),
        (42, "not a int"),
    ],
)
def test_unusable_tables_raise_the_package_error(table, error, data, message):
    with pytest.raises(error, match=message) as raised:
        table.read(data)
    assert isinstance(raised.value, LongTableError)


def test_agreement_orders_any_mix_and_aggregation_refuses_it():
    mixed = np.array(["b", 10, 9, "a", 10], dtype=object)
    codes, uniques = AGREEMENT.factorize(mixed, "item")
    assert uniques.tolist() == [9, 10, "a", "b"] and codes.tolist() == [3, 1, 0, 2, 1]
    with pytest.raises(AggregationInputError, match="cannot be ordered"):
        AGGREGATION.factorize(mixed, "item")


def test_missing_values_are_kept_for_agreement_and_refused_for_aggregation():
    column = np.array(["x", None, "x"], dtype=object)
    assert AGREEMENT.factorize(column, "item")[0].tolist() == [1, 0, 1]
    with pytest.raises(AggregationInputError, match="item values are missing"):
        AGGREGATION.factorize(column, "item")
    with pytest.raises(AggregationInputError, match="missing"):
        AGGREGATION.factorize(pd.Series(["x", None]), "item")


def test_one_missing_value_test():
    values = [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, 0, "", "nan"]
    assert [is_missing(value) for value in values] == [True] * 5 + [False] * 3
    assert missing_mask(np.array(values, dtype=object)).tolist() == [True] * 5 + [False] * 3
    assert missing_mask(np.array([1.0, np.nan])).tolist() == [False, True]


def test_small_integer_ranges_are_counted_like_np_unique():
    column = np.array([7, 3, 3, 12, 7])
    codes, uniques = AGGREGATION.factorize(column, "item")
    expected_uniques, expected_codes = np.unique(column, return_inverse=True)
    assert codes.tolist() == expected_codes.tolist()
    assert uniques.tolist() == expected_uniques.tolist() and uniques.dtype == column.dtype
