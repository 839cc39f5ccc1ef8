"""Bulk import: chunks are committed, then handed on (enqueued) while the rest is stored."""
from sqlalchemy import func, select

from channels import importer
from models import InboundRaw, Session, reading
from tests.channels import mailtools as mt


def _store(folder, count):
    folder.mkdir()
    for i in range(count):
        (folder / f"{i:03d}.eml").write_bytes(
            f"Message-ID: <imp{i}@mail.example>\r\nFrom: a{i}@mail.example\r\nSubject: s{i}\r\n\r\nbody {i}\r\n".encode())
    return folder


def _committed(ids):
    with reading() as session:          # another session: sees only what is committed
        return session.execute(select(func.count(InboundRaw.id)).where(InboundRaw.id.in_(ids))).scalar_one()


def test_each_committed_chunk_is_handed_on_and_a_second_import_hands_on_nothing(
        scratch_database_url, redis_url, tmp_path, monkeypatch):
    mt.mail_app(scratch_database_url, redis_url, tmp_path)          # its tables, and the engine bound to it
    monkeypatch.setattr(importer, "COMMIT_EVERY", 4)
    store = _store(tmp_path / "mail", 10)
    chunks = []

    def handed(ids):
        assert _committed(ids) == len(ids)       # stored durably before anyone is told
        chunks.append(ids)

    stored = importer.store_all(Session, store, on_commit=handed)
    assert [len(chunk) for chunk in chunks] == [4, 4, 2]
    assert [raw_id for chunk in chunks for raw_id in chunk] == [raw_id for raw_id, _new in stored]
    assert all(created for _id, created in stored)
    chunks.clear()
    again = importer.store_all(Session, store, on_commit=handed)
    assert chunks == [] and [raw_id for raw_id, _new in again] == [raw_id for raw_id, _new in stored]
    assert not any(created for _id, created in again)
