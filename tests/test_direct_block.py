"""Plain numeric bodies parsed straight into the feature block answer byte for byte what the
general (DataFrame) path answers, errors included; anything unusual takes the general path."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from conftest import AUTH, BINARY, MULTICLASS, REGRESSION, sample, url
from drcompat.predict import PredictionService

IRIS = sample("iris_multiclass")
HEADER, *LINES = IRIS.decode().strip().split("\n")


def big_iris(rows: int) -> bytes:
    rng = np.random.default_rng(11)
    picked = [LINES[i] for i in rng.integers(0, len(LINES), rows)]
    return ("\n".join([HEADER, *picked]) + "\n").encode()


def both_ways(client, monkeypatch, deployment: str, body: bytes, content_type: str) -> tuple[list[bool], list]:
    """Post ``body`` with JSON and CSV answers, by the direct block and by the general path;
    assert each pair of answers is byte-identical. Returns whether the direct block took each
    request, and the direct answers."""
    taken: list[bool] = []
    original = PredictionService.direct_block

    def spy(self, *args):  # type: ignore[no-untyped-def]
        block = original(self, *args)
        taken.append(block is not None)
        return block

    headers = {**AUTH, "Content-Type": content_type}
    answers = []
    for accept in ("application/json", "text/csv"):
        monkeypatch.setattr(PredictionService, "direct_block", spy)
        fast = client.post(url(deployment), content=body, headers={**headers, "Accept": accept})
        monkeypatch.setattr(PredictionService, "direct_block", lambda *args: None)
        general = client.post(url(deployment), content=body, headers={**headers, "Accept": accept})
        assert (fast.status_code, fast.content) == (general.status_code, general.content)
        answers.append(fast)
    return taken, answers


# (body, content type, whether the direct block takes it)
CASES = {
    "csv": (IRIS, "text/csv", True),
    "csv, one row": (f"{HEADER}\n{LINES[0]}\n".encode(), "text/csv", True),
    "csv, columns reordered and an extra one": (
        b"petal_width,extra,sepal_width,petal_length,sepal_length\n0.2,7,3.5,1.4,5.1\n2.3,-1e3,3.0,5.2,6.7\n",
        "text/csv",
        True,
    ),
    "csv, empty cells, CRLF, blank lines, integers": (
        b"sepal_length,sepal_width,petal_length,petal_width\r\n5,,1.4,0.2\r\n\r\n,3.0,5.2,2\r\n",
        "text/csv; charset=utf-8",
        True,
    ),
    "csv, large (numpy's reader)": (big_iris(3000), "text/csv", True),
    "csv, larger (pandas' reader into one block)": (big_iris(30_000), "text/csv", True),
    "csv, large with empty cells": (big_iris(3000).replace(b"5.1,", b",", 50), "text/csv", True),
    "csv, quoted": (b'sepal_length,sepal_width,petal_length,petal_width\n"5.1",3.5,1.4,0.2\n', "text/csv", False),
    "csv, NA marker": (b"sepal_length,sepal_width,petal_length,petal_width\nNA,3.5,1.4,0.2\n", "text/csv", False),
    "csv, not a number": (b"sepal_length,sepal_width,petal_length,petal_width\n1e,3.5,1.4,0.2\n", "text/csv", False),
    "csv, infinity": (b"sepal_length,sepal_width,petal_length,petal_width\n1e999,3.5,1.4,0.2\n", "text/csv", False),
    "csv, text": (b"sepal_length,sepal_width,petal_length,petal_width\nabc,3.5,1.4,0.2\n", "text/csv", False),
    "csv, duplicate column": (
        b"sepal_length,sepal_width,petal_length,petal_width,petal_width\n1,2,3,4,5\n",
        "text/csv",
        False,
    ),
    "csv, missing column": (b"sepal_length,sepal_width,petal_length\n1,2,3\n", "text/csv", False),
    "csv, short row": (b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3\n", "text/csv", False),
    "csv, long row": (b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4,5\n", "text/csv", False),
    "csv, header only": (b"sepal_length,sepal_width,petal_length,petal_width\n", "text/csv", False),
    "csv, rows misaligned with the right cell count": (
        b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4,5\n6,7,8\n",
        "text/csv",
        False,
    ),
    "csv, numbers JSON does not spell (.5, +1, 1., 007, -0, 1E+2)": (
        b"sepal_length,sepal_width,petal_length,petal_width\n.5,+1,1.,007\n-0,1E+2,-0.0,3e-1\n",
        "text/csv",
        True,
    ),
    "csv, spaces around numbers": (
        b"sepal_length,sepal_width,petal_length,petal_width\n5.1, 3.5,1.4 ,0.2\n",
        "text/csv",
        False,
    ),
    "csv, brackets": (b"sepal_length,sepal_width,petal_length,petal_width\n[5.1,3.5],1.4,0.2\n", "text/csv", False),
    "csv, too many columns": (
        (HEADER + "".join(f",x{i}" for i in range(20_000)) + "\n" + LINES[0] + ",1" * 20_000 + "\n").encode(),
        "text/csv",
        False,
    ),
    "multipart file": (
        b'--b0\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + IRIS + b"\r\n--b0--\r\n",
        "multipart/form-data; boundary=b0",
        True,
    ),
    "multipart, no file part": (b"--b0--\r\n", "multipart/form-data; boundary=b0", False),
    "json array": (
        b'[{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2},'
        b'{"sepal_length":6,"sepal_width":null,"petal_length":5.2,"petal_width":2.3,"x":"y"}]',
        "application/json",
        True,
    ),
    "json object": (b'{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}', "text/json", True),
    "json, numeric strings": (
        b'{"sepal_length":"5.1","sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}',
        "application/json",
        False,
    ),
    "json, boolean": (
        b'{"sepal_length":true,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}',
        "application/json",
        False,
    ),
    "json, a row without a feature": (
        b'[{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2},{"sepal_length":5.1}]',
        "application/json",
        False,
    ),
    "json, malformed": (b'{"sepal_length":', "application/json", False),
    "empty": (b"  \n", "text/csv", False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_direct_block_answers_as_the_general_path(client, monkeypatch, name):
    body, content_type, direct = CASES[name]
    taken, answers = both_ways(client, monkeypatch, MULTICLASS, body, content_type)
    assert taken == [True, True] if direct else True not in taken  # (a 413 or malformed JSON: no call)
    if direct:
        assert answers[0].status_code == 200 and answers[0].json()["data"]
    else:
        assert answers[0].status_code in (200, 400, 413)


def test_direct_block_keeps_humility_and_the_general_path_for_passthrough(client, monkeypatch):
    """The regression deployment's humility rules see the same inputs; passthrough values come back as sent
    (a plain CSV body keeps them on the direct path: tests/test_direct_lambda.py compares both paths)."""
    body = sample("diabetes_regression")
    fast = client.post(url(REGRESSION), content=body, headers={**AUTH, "Content-Type": "text/csv"})
    monkeypatch.setattr(PredictionService, "direct_block", lambda *args: None)
    general = client.post(url(REGRESSION), content=body, headers={**AUTH, "Content-Type": "text/csv"})
    assert fast.status_code == 200 and fast.content == general.content
    assert any(row.get("humility") for row in fast.json()["data"])
    monkeypatch.undo()
    kept = client.post(
        url(REGRESSION) + "?passthroughColumns=age", content=body, headers={**AUTH, "Content-Type": "text/csv"}
    )
    assert kept.status_code == 200 and kept.json()["data"][0]["passthroughValues"]["age"] == 60.0


DIABETES = sample("diabetes_binary")
D_HEADER, *D_LINES = DIABETES.decode().strip().split("\n")

# The binary demo model has a categorical feature (sex): small plain CSV bodies become per-feature arrays.
MIXED = {
    "csv": (DIABETES, True),
    "csv, one row, columns reordered": (
        b"bmi,sex,age,bp,s1,s2,s3,s4,s5,s6,extra\n32.1,female,60,83,179,119.4,42,4,4.4773,94,x y\n",
        True,
    ),
    "csv, missing markers and numbers as categories": (
        (
            D_HEADER
            + "\n"
            + "\n".join(["60,NA,32.1,83,179,119.4,42,4,4.4773,94", "60,,32.1,,179,119.4,42,4,4.4773,94"])
            + "\n"
            + "61,1.0,25,89,185,120,46,4,4.5,92\n61,007,25,89,185,120,46,4,4.5,92\r\n"
        ).encode(),
        True,
    ),
    "csv, NA in a numeric column": (D_HEADER.encode() + b"\nNA,male,32.1,83,179,119.4,42,4,4.4773,94\n", False),
    "csv, text in a numeric column": (D_HEADER.encode() + b"\nold,male,32.1,83,179,119.4,42,4,4.4773,94\n", False),
    "csv, infinity": (D_HEADER.encode() + b"\ninf,male,32.1,83,179,119.4,42,4,4.4773,94\n", False),
    "csv, quoted": (D_HEADER.encode() + b'\n60,"male",32.1,83,179,119.4,42,4,4.4773,94\n', False),
    "csv, missing column": (b"age,bmi\n60,32.1\n", False),
    "csv, short row": (D_HEADER.encode() + b"\n60,male,32.1\n", False),
}


ROW = {"age": 60, "sex": "male", "bmi": 32.1, "bp": 83.0, "s1": 179, "s2": 119.4, "s3": 42, "s4": 4, "s5": 4.4773}
MIXED_JSON = {
    "json": (orjson.dumps([{**ROW, "s6": 94}, {**ROW, "sex": None, "s6": None}, {**ROW, "sex": "007", "s6": 1}]), True),
    "json, one object": (orjson.dumps({**ROW, "s6": 94.0, "extra": [1]}), True),
    "json, a number as category": (orjson.dumps({**ROW, "sex": 1.0, "s6": 94}), False),
    "json, text in a numeric feature": (orjson.dumps({**ROW, "s6": "94"}), False),
    "json, a feature missing": (orjson.dumps(ROW), False),
}


@pytest.mark.parametrize("name", [*MIXED, *MIXED_JSON])
def test_per_feature_arrays_answer_as_the_general_path(client, monkeypatch, name):
    body, direct = MIXED.get(name) or MIXED_JSON[name]
    content_type = "application/json" if name in MIXED_JSON else "text/csv"
    taken, (fast, _) = both_ways(client, monkeypatch, BINARY, body, content_type)
    assert taken == [direct, direct]
    if direct:
        assert fast.status_code == 200


def test_missing_markers_are_pandas_own():
    from pandas._libs.parsers import STR_NA_VALUES

    from drcompat.codecs.tensors import NA_TEXT

    assert NA_TEXT == STR_NA_VALUES


@pytest.mark.parametrize(
    "rows",
    [
        b"1,2.5,-3\n-0,0,-0.0\n1e5,-2E-3,12345678901234567890\n9007199254740993,0.1,1e-400\n",  # simdjson
        b".5,+1,1.\n007,-0,5\n",  # not JSON numbers: numpy's reader
        b"1,,3\n,5,6\n",  # empty cells
        b"0.30000000000000004,1.7976931348623157e308,4.9e-324\n2.2250738585072014e-308,-0,0\n",
    ],
)
def test_plain_csv_block_is_bit_for_bit_what_pandas_reads(rows):
    """Every reader the direct block uses yields pandas' own doubles, signed zeros included."""
    import io

    import pandas as pd

    from drcompat.codecs.tensors import csv_block

    data = b"a,b,c\n" + rows
    block = csv_block(data, ["a", "b", "c"], None)
    expected = pd.read_csv(io.BytesIO(data), dtype=np.float64).to_numpy()
    assert block is not None and block.shape == expected.shape
    assert block.tobytes() == expected.tobytes()


def big_diabetes(rows: int) -> bytes:
    rng = np.random.default_rng(5)
    picked = [D_LINES[i] for i in rng.integers(0, len(D_LINES), rows)]
    return ("\n".join([D_HEADER, *picked]) + "\n").encode()


BIG = big_diabetes(3000)  # 30,000 cells: above tensors.MIXED_CELLS, read by codecs.columns_csv
BIG_ROWS = BIG.split(b"\n")


def with_row(index: int, row: bytes) -> bytes:
    """BIG with one data row replaced (index from the end: a later block of rows)."""
    return b"\n".join([*BIG_ROWS[:index], row, *BIG_ROWS[index + 1 :]])


# (body, whether the per-feature arrays take it)
LARGE_MIXED = {
    "csv, 3,000 rows": (BIG, True),
    "csv, 3,000 rows, CRLF, no final newline": (BIG.replace(b"\n", b"\r\n").rstrip(), True),
    "csv, columns reordered, extra text columns first and last": (
        b"\n".join(
            (
                b"note,s6,s5,s4,s3,s2,s1,bp,bmi,sex,age,tail"
                if i == 0
                else b"x y," + b",".join(line.split(b",")[::-1]) + b",z"
            )
            for i, line in enumerate(BIG_ROWS[:-1])
        )
        + b"\n",
        True,
    ),
    "csv, missing markers and numbers as categories": (
        with_row(5, b"60,NA,32.1,83,179,119.4,42,4,4.4773,94")
        .replace(b",female,", b",,", 7)
        .replace(b",male,", b",1.0,", 3),
        True,
    ),
    "csv, -0 in a column of integers": (with_row(-3, b"-0,male,32.1,83,179,119.4,42,4,4.4773,94"), False),
    "csv, NA in a numeric column": (with_row(-3, b"NA,male,32.1,83,179,119.4,42,4,4.4773,94"), False),
    "csv, empty numeric cell": (with_row(2, b",male,32.1,83,179,119.4,42,4,4.4773,94"), False),
    "csv, text in a numeric column": (with_row(-2, b"old,male,32.1,83,179,119.4,42,4,4.4773,94"), False),
    "csv, brackets": (with_row(-2, b"[60,male,32.1],83,179,119.4,42,4,4.4773,94"), False),
    "csv, spaces around a number": (with_row(9, b"60, male,32.1 ,83,179,119.4,42,4,4.4773,94"), False),
    "csv, infinity": (with_row(-2, b"1e999,male,32.1,83,179,119.4,42,4,4.4773,94"), False),
    "csv, quoted field": (with_row(4, b'60,"male",32.1,83,179,119.4,42,4,4.4773,94'), False),
    "csv, short row": (with_row(-2, b"60,male,32.1"), False),
    "csv, long row": (with_row(-2, b"60,male,32.1,83,179,119.4,42,4,4.4773,94,1"), False),
    "csv, blank line": (with_row(100, b""), False),
    "csv, missing column": (BIG.replace(b"s6", b"s7", 1), False),
    "csv, not UTF-8": (with_row(3, b"60,m\xe4le,32.1,83,179,119.4,42,4,4.4773,94"), False),
}


@pytest.mark.parametrize("name", list(LARGE_MIXED))
def test_large_mixed_csv_answers_as_the_general_path(client, monkeypatch, name):
    body, direct = LARGE_MIXED[name]
    taken, (_, fast) = both_ways(client, monkeypatch, BINARY, body, "text/csv")
    assert taken == [direct, direct]
    if direct:
        assert fast.status_code == 200 and len(fast.content.split(b"\n")) > 3000


def test_large_mixed_csv_columns_are_the_general_paths():
    """The per-feature arrays are bit for bit what pandas and features.feature_columns compute."""
    from drcompat.codecs.cells import CellLimits
    from drcompat.codecs.columns_csv import csv_feature_columns
    from drcompat.codecs.request import decode_request
    from drcompat.features import feature_columns, text_columns
    from drcompat.models.metadata import ModelMetadata

    meta = ModelMetadata.from_dict(
        {"modelId": "65f1b0000000000000000001", "targetType": "Regression", "features": FEATURES}
    )
    limits = CellLimits(2_000_000, 20_000)
    rng = np.random.default_rng(3)
    cells = ["1", "-2.5", "1e5", "2.5E-3", "0", "-0.5", "12345678901234567890", "9007199254740993", "0.1"]
    texts = ["male", "female", "", "NA", "null", "1.0", "007", "é", "x y", " male", "nan "]
    lines = [",".join([rng.choice(cells), rng.choice(texts), rng.choice(cells)]) for _ in range(5000)]
    data = ("a,t,b\n" + "\n".join(lines) + "\n").encode()
    found = csv_feature_columns(data, [("a", True), ("t", False), ("b", True)], limits)
    decoded = decode_request(data, "text/csv", None, 1 << 28, text_columns(meta), limits)
    expected = feature_columns(decoded.frame, meta)
    assert found is not None and list(found) == list(expected)
    for name, values in expected.items():
        assert found[name].dtype == values.dtype
        if values.dtype == object:
            assert found[name].tolist() == values.tolist()
        else:
            assert found[name].tobytes() == values.tobytes()


FEATURES = [{"name": "a"}, {"name": "t", "type": "categorical"}, {"name": "b"}]


def big_json(rows: int, **changes: object) -> bytes:
    """3,000 records (30,000 cells) from the diabetes sample; ``changes`` set on record 2,000."""
    keys = D_HEADER.split(",")
    records = []
    for line in (D_LINES * (rows // len(D_LINES) + 1))[:rows]:
        cells = line.split(",")
        records.append({k: (v if k == "sex" else float(v)) for k, v in zip(keys, cells, strict=True)})
    records[2000] = {**records[2000], **changes}
    return orjson.dumps(records)


LARGE_MIXED_JSON = {
    "json, 3,000 records": (big_json(3000), True),
    "json, nulls and integers": (big_json(3000, sex=None, age=None, bmi=30), True),
    "json, a number as category": (big_json(3000, sex=1.0), False),
    "json, a boolean": (big_json(3000, age=True), False),
    "json, a false": (big_json(3000, bp=False), False),
    "json, a numeric string": (big_json(3000, age="60"), False),
    "json, an extra key on one record": (big_json(3000, extra=[1]), True),
}


@pytest.mark.parametrize("name", list(LARGE_MIXED_JSON))
def test_large_mixed_json_answers_as_the_general_path(client, monkeypatch, name):
    body, direct = LARGE_MIXED_JSON[name]
    taken, _ = both_ways(client, monkeypatch, BINARY, body, "application/json")
    assert taken == [direct, direct]


@pytest.mark.parametrize(
    "cells",
    [
        [1.5, 2, -0.0, 1e308, 0, 1],
        [0.0, 1.0, 0, 1, 2.5, 0.0],  # many zeros and ones: every type checked
        [0.5, None, 2.0, 3.0],  # null: NaN
        [0.5, True, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],  # a boolean among few zeros and ones
        [0, 0, 0, False],  # a boolean among many
        [0.5, "1.5", 2.0],  # a numeric string
        [0.5, [1.0], 2.0],
        [0.5, {"a": 1}, 2.0],
        [2**64 - 1, -(2**63), 1e-320],
    ],
)
def test_json_numbers_are_read_as_the_typed_check_reads_them(cells):
    """Cells read in one C pass give what checking every cell's type, then converting, gives."""
    import numpy as np

    from drcompat.codecs.tensors import NUMBER_TYPES, json_block

    rows = [{"x": cell} for cell in cells]
    expected = np.array(cells, dtype=np.float64) if NUMBER_TYPES.issuperset(map(type, cells)) else None
    got = json_block(rows, ["x"], None)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.shape == (len(cells), 1)
        assert np.array_equal(got[:, 0], expected, equal_nan=True)
        assert np.array_equal(np.signbit(got[:, 0]), np.signbit(expected))
    pairs = [{"x": cell, "y": 1.0} for cell in cells]  # two features: the cells of each row
    both = json_block(pairs, ["x", "y"], None)
    assert (both is None) == (expected is None)


def test_json_cell_limit_counts_every_distinct_key():
    """The per-feature arrays decline (the general path answers 413) exactly when rows x distinct
    keys is over the limit, whether the rows hold only the features or differing extra keys."""
    from drcompat.codecs.cells import CellLimits
    from drcompat.codecs.tensors import json_block, json_columns

    features = [("a", True), ("t", False)]
    same = [{"a": 1.0, "t": "x"} for _ in range(10)]  # 20 cells
    extra = [{"a": 1.0, "t": "x", f"k{i}": 1} for i in range(10)]  # 3 keys each, 12 distinct: 120 cells
    assert json_columns(same, features, CellLimits(20, 100)) is not None
    assert json_columns(same, features, CellLimits(19, 100)) is None
    assert json_columns(extra, features, CellLimits(120, 100)) is not None
    assert json_columns(extra, features, CellLimits(119, 100)) is None
    assert json_block(extra, ["a"], CellLimits(119, 100)) is None
    assert json_block(extra, ["a"], CellLimits(120, 100)) is not None


@pytest.mark.parametrize("width", [1, 2, 5, 64, 70])
def test_rows_of_the_wrong_field_count_are_found_at_any_width(width):
    """simdjson flattens rows without checking their lengths: a row one cell short beside one a
    cell long (the right total) must still go to the general path, which names the problem."""
    from drcompat.codecs.tensors import csv_block

    names = [f"c{j}" for j in range(width)]
    good = ",".join("1.5" for _ in range(width))
    header = ",".join(names)
    block = csv_block(f"{header}\n{good}\n{good}\n".encode(), names, None)
    assert block is not None and block.shape == (2, width)
    long_row, short_row = good + ",2", ",".join("3" for _ in range(width - 1))
    if width > 1:
        assert csv_block(f"{header}\n{long_row}\n{short_row}\n".encode(), names, None) is None
        assert csv_block(f"{header}\n{short_row}\n{long_row}\n".encode(), names, None) is None
    assert csv_block(f"{header}\n{good}\n{long_row}\n".encode(), names, None) is None
