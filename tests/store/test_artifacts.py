"""The artifact store contract, on a local folder and on an fsspec in-memory filesystem."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import fsspec
import pytest

from loopwright.errors import ArtifactIntegrityError, NotFoundError
from loopwright.store.artifacts import ArtifactStore, sha256_file


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    return ArtifactStore(f"memory://lw-{uuid.uuid4().hex}/artifacts")


def _stored_files(store: ArtifactStore) -> list[str]:
    fs, root = fsspec.core.url_to_fs(store.uri)
    return sorted(path for path in fs.find(root) if "/.tmp/" not in path)


def test_bytes_round_trip_and_identical_content_is_stored_once(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"weights")
    assert blob.digest == hashlib.sha256(b"weights").hexdigest()
    assert blob.size == 7
    assert store.put_bytes(b"weights") == blob
    assert store.get_bytes(blob.digest) == b"weights"
    assert store.exists(blob.digest)
    assert len(_stored_files(store)) == 1
    assert store.path_for(blob.digest).endswith(f"/sha256/{blob.digest[:2]}/{blob.digest[2:]}")


def test_files_are_streamed_in_and_downloaded_verified(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(bytes(range(256)) * 10_000)  # 2.5 MB: several read chunks
    blob = store.put_file(source)
    assert blob == sha256_file(source)
    copy = store.download(blob.digest, tmp_path / "out" / "model.bin", name="model.bin")
    assert copy.read_bytes() == source.read_bytes()
    other = tmp_path / "same-content.bin"
    other.write_bytes(source.read_bytes())
    assert store.put_file(other) == blob
    assert len(_stored_files(store)) == 1


def test_no_temporary_files_are_left_behind(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes(b"a")
    source = tmp_path / "b.txt"
    source.write_text("b")
    store.put_file(source)
    fs, root = fsspec.core.url_to_fs(store.uri)
    leftovers = [path for path in fs.find(root) if "/.tmp/" in path]
    assert leftovers == []


def test_a_corrupted_blob_is_refused_naming_the_artifact(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"the real model")
    fs, _ = fsspec.core.url_to_fs(store.uri)
    with fs.open(store.path_for(blob.digest), "wb") as handle:
        handle.write(b"something else")
    actual = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(ArtifactIntegrityError) as caught:
        store.get_bytes(blob.digest, name="run-1/model.pkl")
    assert str(caught.value) == (
        f"Artifact 'run-1/model.pkl' is corrupt: its bytes hash to sha256 {actual} but it was stored as "
        f"{blob.digest} (at {store.path_for(blob.digest)!r}). Restore it from a backup, or delete that file and log "
        "the artifact again."
    )
    assert caught.value.code == "store.integrity"

    target = tmp_path / "restored.pkl"
    with pytest.raises(ArtifactIntegrityError):
        store.download(blob.digest, target, name="run-1/model.pkl")
    assert not target.exists()
    assert list(tmp_path.glob(".restored.pkl.*")) == []


def test_missing_blobs_and_files_are_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(NotFoundError, match=f"Artifact 'model.pkl' \\(sha256 {digest}\\) is missing"):
        store.get_bytes(digest, name="model.pkl")
    with pytest.raises(NotFoundError, match="does not exist or is not a file"):
        store.put_file(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="must be 64 lowercase hex digits"):
        store.path_for("../../etc/passwd")


def test_delete_removes_a_blob(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"temporary")
    store.delete(blob.digest)
    assert not store.exists(blob.digest)
    store.delete(blob.digest)  # deleting twice is fine
