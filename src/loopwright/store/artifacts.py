"""The content-addressed artifact store, over any fsspec filesystem.

A blob lives at ``<root>/sha256/<first two hex digits>/<the rest>``, so identical content is stored once
whatever it was called. Writes go to ``<root>/.tmp/`` first and are moved into place only when complete,
so a reader never sees half a blob. Every read hashes what it reads and refuses bytes that no longer match
their digest::

    >>> store = ArtifactStore("/tmp/artifacts")
    >>> blob = store.put_bytes(b"hello")
    >>> blob.digest[:12], blob.size
    ('2cf24dba5fb0', 5)
    >>> store.get_bytes(blob.digest)
    b'hello'
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from loopwright.errors import ArtifactIntegrityError, MissingExtraError, NotFoundError

__all__ = ["ArtifactStore", "StoredBlob", "sha256_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """What the store knows of a blob: its sha256 digest and its size in bytes."""

    digest: str
    size: int


def sha256_file(path: str | os.PathLike[str]) -> StoredBlob:
    """Hash a local file in a streaming pass."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return StoredBlob(digest.hexdigest(), size)


class ArtifactStore:
    """Immutable blobs keyed by their sha256, under ``uri`` (a folder or any fsspec URL)."""

    def __init__(self, uri: str, **storage_options: Any) -> None:
        import fsspec.core

        self.uri = uri
        try:
            self._fs, self._root = fsspec.core.url_to_fs(uri, **storage_options)
        except ImportError as error:
            if uri.startswith(("s3://", "s3a://")):
                raise MissingExtraError("An s3:// artifact store", "s3fs", "s3") from error
            raise  # fsspec's own message names the driver to install
        self._root = self._root.rstrip("/")
        self._local = "file" in _protocols(self._fs)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.uri!r})"

    @property
    def is_local(self) -> bool:
        """Whether blobs are files on this machine (readable in place by path)."""
        return self._local

    def verified_path(self, digest: str, *, name: str | None = None) -> Path:
        """The local path of a blob of a local store, after checking its bytes still match ``digest``."""
        if not self._local:
            raise ValueError(f"{self!r} is not local; download the blob instead.")
        path = Path(self.path_for(digest))
        if not path.is_file():
            self._open(digest, name)  # raises the NotFoundError that names the artifact
        self._verify(digest, sha256_file(path).digest, name)
        return path

    def create(self) -> None:
        """Create the store's root folder if it does not exist (writing a blob creates it too)."""
        self._fs.makedirs(self._root, exist_ok=True)

    # --- writing -------------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store ``data``; a blob with the same content is reused, not written again."""
        blob = StoredBlob(hashlib.sha256(data).hexdigest(), len(data))
        if not self.exists(blob.digest):
            self._write_atomically(blob.digest, iter((data,)))
        return blob

    def put_file(self, path: str | os.PathLike[str], *, move: bool = False) -> StoredBlob:
        """Store the local file at ``path`` (streamed, so its size is not bounded by memory).

        With ``move=True`` the caller hands the file over: a local store renames it into place instead
        of copying it when both are on one filesystem (the file is gone afterwards either way)."""
        source = Path(path)
        if not source.is_file():
            raise NotFoundError(
                f"The artifact file {str(source)!r} does not exist or is not a file.",
                kind="file",
                key=str(source),
            )
        blob = sha256_file(source)
        if self.exists(blob.digest):
            if move:
                source.unlink()
            return blob
        if move and self._local:
            final = self.path_for(blob.digest)
            self._fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            try:
                os.replace(source, final)
                return blob
            except OSError:
                pass  # another filesystem: copy below
        written = self._write_atomically(blob.digest, _read_chunks(source))
        if move:
            source.unlink()
        if written != blob:
            raise ArtifactIntegrityError(
                f"The file {str(source)!r} changed while it was being stored (sha256 {blob.digest} "
                f"before, {written.digest} after). Log it again once nothing is writing to it.",
                path=str(source),
            )
        return blob

    def _write_atomically(self, digest: str, chunks: Iterator[bytes]) -> StoredBlob:
        final = self.path_for(digest)
        temporary = f"{self._root}/.tmp/{uuid.uuid4().hex}"
        self._fs.makedirs(f"{self._root}/.tmp", exist_ok=True)
        hasher = hashlib.sha256()
        size = 0
        try:
            with self._fs.open(temporary, "wb") as handle:
                for chunk in chunks:
                    hasher.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
                if self._local:
                    handle.flush()
                    os.fsync(handle.fileno())
            written = StoredBlob(hasher.hexdigest(), size)
            if written.digest != digest:
                self._fs.rm(temporary)
                return written
            self._fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            if self._local:
                os.replace(temporary, final)  # atomic on POSIX, even with a concurrent writer
            else:
                self._fs.mv(temporary, final)
            return written
        except BaseException:
            if self._fs.exists(temporary):
                self._fs.rm(temporary)
            raise

    # --- reading -------------------------------------------------------------------------------------

    def path_for(self, digest: str) -> str:
        """Where the blob with ``digest`` lives in the store (whether or not it exists)."""
        if len(digest) != 64 or any(character not in "0123456789abcdef" for character in digest):
            raise ValueError(f"An artifact digest must be 64 lowercase hex digits. Got {digest!r} instead.")
        return f"{self._root}/sha256/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        """Whether a blob with ``digest`` is stored."""
        return bool(self._fs.exists(self.path_for(digest)))

    def get_bytes(self, digest: str, *, name: str | None = None) -> bytes:
        """Read a whole blob into memory, verifying its hash. ``name`` is used in error messages."""
        data = self._open(digest, name).read()
        self._verify(digest, hashlib.sha256(data).hexdigest(), name)
        return bytes(data)

    def download(self, digest: str, destination: str | os.PathLike[str], *, name: str | None = None) -> Path:
        """Copy a blob to a local file, verifying its hash; the file appears only once verified."""
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        hasher = hashlib.sha256()
        try:
            with self._open(digest, name) as source, open(temporary, "wb") as sink:
                while chunk := source.read(_CHUNK):
                    hasher.update(chunk)
                    sink.write(chunk)
            self._verify(digest, hasher.hexdigest(), name)
            os.replace(temporary, target)
        finally:
            if temporary.exists():
                temporary.unlink()
        return target

    def delete(self, digest: str) -> None:
        """Remove a blob (garbage collection; the metadata store decides what is unreferenced)."""
        path = self.path_for(digest)
        if self._fs.exists(path):
            self._fs.rm(path)

    def _open(self, digest: str, name: str | None) -> IO[bytes]:
        path = self.path_for(digest)
        try:
            handle: IO[bytes] = self._fs.open(path, "rb")
        except FileNotFoundError as error:
            label = f"Artifact {name!r}" if name else "The artifact"
            raise NotFoundError(
                f"{label} (sha256 {digest}) is missing from the artifact store at {self.uri!r}: "
                f"expected {path!r}. It was deleted outside Loopwright or the store moved; restore it from a "
                "backup or log the artifact again.",
                kind="artifact",
                key=digest,
            ) from error
        return handle

    def _verify(self, expected: str, actual: str, name: str | None) -> None:
        if actual != expected:
            label = f"Artifact {name!r}" if name else "An artifact"
            raise ArtifactIntegrityError(
                f"{label} is corrupt: its bytes hash to sha256 {actual} but it was stored as {expected} "
                f"(at {self.path_for(expected)!r}). Restore it from a backup, or delete that file and log "
                "the artifact again.",
                name=name,
                expected=expected,
                actual=actual,
            )


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
