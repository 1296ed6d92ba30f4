"""A model folder as one artifact: a deterministic tar in the artifact store, and a verified copy on disk.

The tar holds the folder's files in sorted order, with every time set to 0, owner 0 and fixed
permissions, so the same model files give the same bytes, the same sha256 and one stored blob, whoever
saved them and when. It is not compressed: gzip's output depends on the zlib build, which would break
that identity across machines, and serialised weights compress little anyway.

>>> record = store_model_dir(artifacts, store, Path("model"))        # doctest: +SKIP
>>> materialize_model(artifacts, record, Path(".loopwright/cache"))  # doctest: +SKIP
PosixPath('.loopwright/cache/models/3f2a…')
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from loopwright.errors import ArtifactIntegrityError, InvalidInputError
from loopwright.store.artifacts import ArtifactStore
from loopwright.store.metadata import MetadataStore
from loopwright.store.records import ArtifactRecord

__all__ = ["MODEL_MEDIA_TYPE", "materialize_model", "store_model_dir", "write_archive"]

MODEL_MEDIA_TYPE = "application/x-tar"
"""The media type of a stored model artifact."""

_CHUNK = 1 << 20


def write_archive(model_dir: Path, target: IO[bytes]) -> int:
    """Write ``model_dir`` as a deterministic tar to ``target``; returns the number of files.

    Only regular files and folders are allowed: a link could point outside the folder when extracted.
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise InvalidInputError(
            f"A model folder must be a folder. Got {str(root)!r} instead.", path=str(root)
        )
    count = 0
    with tarfile.open(fileobj=target, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, relative in _walk(root):
            info = tarfile.TarInfo(relative)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
                continue
            info.mode = 0o644
            info.size = path.stat().st_size
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
            count += 1
    return count


def store_model_dir(artifacts: ArtifactStore, store: MetadataStore, model_dir: Path) -> ArtifactRecord:
    """Store ``model_dir`` as one artifact of kind ``model`` (identical folders are stored once)."""
    root = Path(model_dir)
    scratch = Path(tempfile.mkdtemp(prefix="loopwright-model-"))
    try:
        tar_path = scratch / "model.tar"
        with open(tar_path, "wb") as handle:
            files = write_archive(root, handle)
        blob = artifacts.put_file(tar_path, move=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return store.record_artifact(
        "model", blob.digest, blob.size, media_type=MODEL_MEDIA_TYPE, properties={"files": files}
    )


def materialize_model(
    artifacts: ArtifactStore, record_or_digest: ArtifactRecord | str, cache_dir: Path
) -> Path:
    """The model folder of an artifact, extracted once into ``cache_dir/models/<digest>`` and reused.

    The blob's hash is verified before anything is extracted, and every entry is checked: absolute paths,
    ``..``, links and device files are refused, so a crafted archive cannot write outside its folder. The
    folder appears complete or not at all (it is extracted beside it and renamed into place).
    """
    digest = record_or_digest if isinstance(record_or_digest, str) else record_or_digest.digest
    artifacts.path_for(digest)  # validates the digest before it becomes part of a path
    final = Path(cache_dir) / "models" / digest
    if final.is_dir():  # it appeared by an atomic rename, so it is complete
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{digest[:16]}.{uuid.uuid4().hex}.part"
    try:
        tar_path = staging.with_suffix(".tar")
        if artifacts.is_local:
            tar_path = artifacts.verified_path(digest, name=f"model {digest[:12]}")
        else:
            artifacts.download(digest, tar_path, name=f"model {digest[:12]}")
        _extract(tar_path, staging, digest)
        try:
            os.replace(staging, final)
        except OSError:
            if not final.is_dir():  # pragma: no cover - not the race below: a real failure
                raise
            # another process extracted the same model first; its folder is as good as ours
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        leftover = staging.with_suffix(".tar")
        if leftover.exists():
            leftover.unlink()
    return final


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    """Every folder and file under ``root``, sorted by relative path, as ``(path, posix name)``."""
    entries = []
    for current, folders, files in os.walk(root, followlinks=False):
        base = Path(current)
        for name in folders + files:
            path = base / name
            mode = path.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise InvalidInputError(
                    f"A model folder may hold only files and folders; {str(path)!r} is a link or a special "
                    "file. Copy what it points to into the folder instead.",
                    path=str(path),
                )
            entries.append((path, path.relative_to(root).as_posix()))
    return iter(sorted(entries, key=lambda entry: entry[1]))


def _extract(tar_path: Path, destination: Path, digest: str) -> None:
    destination.mkdir(parents=True)
    with tarfile.open(tar_path, mode="r:") as archive:
        for member in archive:
            target = _safe_target(destination, member, digest)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:  # pragma: no cover - regular files always have content
                continue
            with source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK)


def _safe_target(destination: Path, member: tarfile.TarInfo, digest: str) -> Path:
    name = PurePosixPath(member.name)
    unsafe = (
        name.is_absolute()
        or ".." in name.parts
        or not name.parts
        or "\\" in member.name
        or not (member.isfile() or member.isdir())
    )
    if unsafe:
        raise ArtifactIntegrityError(
            f"The model artifact sha256 {digest} holds an unsafe entry {member.name!r} (an absolute path, "
            "'..', a link or a special file); it was not extracted.",
            digest=digest,
            entry=member.name,
        )
    return destination.joinpath(*name.parts)
