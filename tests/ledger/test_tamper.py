"""Tampering with the embedded ledger's file, with a plain sqlite3 connection (as an
attacker with file access would): the conformance tamper tests, and the file's own."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.errors import IntegrityError
from carbonledger.ports.ledger import VerifyReport
from tests.conformance.tamper import KEY, FileDb, TamperConformance, build, tampered_report


class FileCopy:
    def __init__(self, path: Path) -> None:
        self.db = FileDb(path)

    def tampered(self) -> VerifyReport:
        return tampered_report(lambda: closing(SqliteLedger(self.db.path)))


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    ledger = SqliteLedger(path, operator=KEY)
    build(ledger)
    ledger.close()
    return path


class TestEmbeddedFileTamper(TamperConformance):
    #: What a copy is opened as (a subclass may check more on each verify).
    copy_type = FileCopy

    @pytest.fixture
    def tamper_copy(self, original: Path, tmp_path: Path) -> Callable[[], FileCopy]:
        def copy() -> FileCopy:
            target = Path(tempfile.mkdtemp(dir=tmp_path)) / "copy.db"
            shutil.copy(original, target)
            return self.copy_type(target)

        return copy


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(IntegrityError, match="damaged or not a ledger"):
        SqliteLedger(path)
