"""The ARISE table: every row validated on load (bad rows refused, named), and a record of which table was used."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest

from pinn.data import arise
from pinn.data.bundled import arise_table
from pinn.errors import InputError

SHARED_ALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw" / "active_regions" / "arise" / (
    "ARISE_database_allARs.csv"
)


def corrupted(tmp_path: Path, changes: dict[tuple[int, str], str]) -> Path:
    """The bundled table with ``changes[(data row index, column)] = text`` written into it."""
    rows = list(csv.reader(io.StringIO(arise_table().read_text(encoding="utf-8"))))
    header = rows[0]
    for (row, column), text in changes.items():
        rows[row + 1][header.index(column)] = text
    path = tmp_path / "ARISE_database_remove_repeat_ARs.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_real_tables_load_whole():
    table = arise.load_arise(arise_table())
    assert len(table) == 2545 and table["cr"].min() == 1909 and table["cr"].max() == 2282
    assert table["lat"].between(-90, 90).all() and table["lon"].between(0, 360).all() and (table["flux"] > 0).all()
    if SHARED_ALL.is_file():
        assert len(arise.load_arise(SHARED_ALL)) == 2747  # README section 2: every row kept


BAD = {
    "lat_na": (("Lat(whole)", "n/a"), "'n/a' is not a number"),
    "lat_500": (("Lat(whole)", "500"), "'500' is outside [-90, 90] deg"),
    "lon_negative": (("Lon(whole)", "-999"), "'-999' is outside [0, 360] deg"),
    "lon_empty": (("Lon(whole)", ""), "'' is not a number"),
    "cr_fraction": (("CR", "2280.5"), "'2280.5' is not an integer rotation"),
    "cr_text": (("CR", "CR2280"), "'CR2280' is not a number"),
    "cr_zero": (("CR", "0"), "'0' is outside the plausible rotations 1.."),
    "cr_future": (("CR", "99999"), "'99999' is outside the plausible rotations 1.."),
    "flux_text": (("Flux(pos, Mx)", "lots"), "'lots' is not a number"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_row_is_refused_naming_row_and_column(kind, tmp_path):
    (column, text), why = BAD[kind]
    path = corrupted(tmp_path, {(10, column): text})
    with pytest.raises(InputError) as info:
        arise.load_arise(path)
    message = str(info.value)
    assert message.startswith(f"{path}: bad ARISE row: data row 11 (file line 12), column {column!r}: {why}")
    assert "(1 bad row(s) in all" in message and "\n" not in message


def test_every_bad_row_is_counted_and_the_first_named(tmp_path):
    path = corrupted(tmp_path, {(2000, "Lon(whole)"): "-999", (7, "Lat(whole)"): "n/a", (300, "CR"): "2280.5"})
    with pytest.raises(InputError, match=r"data row 8 \(file line 9\), column 'Lat\(whole\)'.*\(3 bad row\(s\) in all"):
        arise.load_arise(path)


def test_cr_bound_is_the_rotation_in_progress():
    assert arise.current_rotation(dt.datetime(2010, 8, 23, 4, 50, tzinfo=dt.UTC)) == 2100  # CR 2100 T_OBS
    assert arise.current_rotation(dt.datetime(2024, 2, 1, tzinfo=dt.UTC)) == 2280
    assert arise.current_rotation(dt.datetime(2024, 2, 20, tzinfo=dt.UTC)) == 2281  # CR 2281 began 2024-02-14
    assert arise.current_rotation() >= 2282  # the bundled table's last rotation has been observed
    with pytest.raises(InputError, match=r"column 'CR': '2251' is outside the plausible rotations 1..2250"):
        arise.load_arise(arise_table(), max_cr=2250)


def test_table_record_names_path_and_content_hash(tmp_path):
    record = arise.table_record(arise_table())
    assert record == {
        "path": str(arise_table().resolve()),
        "sha256": hashlib.sha256(arise_table().read_bytes()).hexdigest(),
    }
    copy = corrupted(tmp_path, {(0, "Lat(whole)"): "-6.278968528"})  # one digit changed
    assert arise.table_record(copy)["sha256"] != record["sha256"]
    assert arise.table_record(copy)["path"] == str(copy.resolve())
