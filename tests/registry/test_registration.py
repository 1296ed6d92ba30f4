"""Registering model versions, finding and loading them, and the model artifact (on SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

import loopwright as lw
from loopwright.errors import ArtifactIntegrityError, InvalidInputError, ModelError, NotFoundError
from loopwright.registry.archive import materialize_model, store_model_dir, write_archive
from tests.registry.conftest import FEATURES, count_rows, fit, fraud_frame


def test_a_version_is_linked_to_its_run_training_data_and_code(client: lw.Client) -> None:
    frame = fraud_frame()
    with client.start_run(experiment="fraud") as run:
        client.log_dataset("transactions", frame)
        train = client.dataset("transactions")
        version = client.register_model("fraud", fit(train.to_pandas()), input_example=frame[FEATURES].head())
    recorded = client.get_run(run.id)
    assert (version.name, version.version, version.uri) == ("fraud", 1, "models:/fraud/1")
    assert version.flavor == "sklearn"
    assert version.run_id == run.id
    assert version.code_version == recorded.git_commit
    assert version.record.created_by == "tester"
    assert [(data.name, data.version) for data in version.datasets()] == [("transactions", 1)]
    assert version.signature == {
        "inputs": [{"name": "amount", "type": "float64"}, {"name": "age", "type": "float64"}],
        "outputs": None,
    }
    outputs = {
        item.name: item.artifact for item in client.run_artifacts(run.id) if item.direction == "output"
    }
    assert outputs["models/fraud/v1"].kind == "model"
    assert outputs["models/fraud/v1"].digest == version.record.digest


def test_versions_are_numbered_per_model_and_identical_models_share_one_artifact(
    client: lw.Client, tmp_path: Path
) -> None:
    # The same saved folder (a manifest records when a model was saved, so save once).
    model = tmp_path / "saved"
    lw.save_model(fit(fraud_frame()), model)
    first = client.register_model("fraud", model, description="baseline", tags={"team": "risk", "k": 3})
    second = client.register_model("fraud", model)
    other = client.register_model("churn", model)
    assert [first.version, second.version, other.version] == [1, 2, 1]
    assert first.record.digest == second.record.digest == other.record.digest
    assert count_rows(client, "artifacts") == 1
    assert (first.description, first.tags) == ("baseline", {"k": "3", "team": "risk"})
    assert [model.name for model in client.list_models()] == ["churn", "fraud"]
    assert [version.version for version in client.model_versions("fraud")] == [1, 2]


def test_explicit_datasets_replace_the_runs_inputs(client: lw.Client) -> None:
    frame = fraud_frame()
    client.log_dataset("transactions", frame)
    client.log_dataset("transactions", fraud_frame(seed=1))
    version = client.register_model(
        "fraud", fit(frame), datasets=["transactions:1", client.dataset("transactions")]
    )
    assert [(data.name, data.version) for data in version.datasets()] == [
        ("transactions", 1),
        ("transactions", 2),
    ]


def test_every_way_of_naming_a_version_loads_the_same_model(client: lw.Client, tmp_path: Path) -> None:
    frame = fraud_frame()
    model = fit(frame)
    version = client.register_model("fraud", model, input_example=frame[FEATURES].head())
    client.set_alias("fraud", "champion", 1)
    expected = model.predict(frame[FEATURES])  # type: ignore[attr-defined]
    for target in (
        "models:/fraud/1",
        "models:/fraud@champion",
        "models:/fraud",
        "fraud/1",
        "fraud:1",
        "fraud@champion",
    ):
        assert np.array_equal(client.load_model(target).predict(frame), expected), target
    assert np.array_equal(client.load_model(version).predict(frame), expected)
    assert np.array_equal(client.load_model("fraud", 1).predict(frame), expected)
    folder = tmp_path / "saved"
    lw.save_model(model, folder)
    assert np.array_equal(client.load_model(folder).predict(frame[FEATURES]), expected)
    assert np.array_equal(client.load_model(str(folder)).predict(frame[FEATURES]), expected)


def test_a_saved_folder_and_a_loaded_model_register_as_they_are(client: lw.Client, tmp_path: Path) -> None:
    frame = fraud_frame()
    folder = tmp_path / "saved"
    lw.save_model(fit(frame), folder, input_example=frame[FEATURES].head())
    from_folder = client.register_model("fraud", folder)
    from_loaded = client.register_model("fraud", client.load_model(from_folder))
    assert from_folder.record.digest == from_loaded.record.digest
    assert from_folder.signature is not None


def test_loading_inside_a_run_records_the_version_as_an_input(client: lw.Client) -> None:
    client.register_model("fraud", fit(fraud_frame()))
    with client.start_run(experiment="scoring") as run:
        client.load_model("models:/fraud/1")
    inputs = [item.name for item in client.run_artifacts(run.id) if item.direction == "input"]
    assert inputs == ["models/fraud/v1"]


def test_nothing_is_registered_when_the_model_cannot_be_serialised(client: lw.Client) -> None:
    class Holder(lw.PythonModel):
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def predict(self, data: object) -> object:
            return data

    with pytest.raises(ModelError, match="cannot be serialised"):
        client.register_model("fraud", Holder())
    assert [count_rows(client, table) for table in ("models", "model_versions", "artifacts")] == [0, 0, 0]


def test_bad_arguments_fail_before_anything_is_written(client: lw.Client) -> None:
    model = fit(fraud_frame())
    with pytest.raises(NotFoundError, match="^Run 'no-such-run' does not exist"):
        client.register_model("fraud", model, run="no-such-run")
    with pytest.raises(InvalidInputError) as error:
        client.register_model("fraud@x", model)
    assert str(error.value) == (
        "A model name cannot contain '@' (it separates the name from a version or an alias, as in fraud:3 "
        "or fraud@production). Got 'fraud@x' instead."
    )
    with pytest.raises(InvalidInputError, match="path separators are not allowed"):
        client.register_model("fraud", model, tags={"a/b": 1})
    with pytest.raises(NotFoundError, match="^Dataset 'nope' does not exist"):
        client.register_model("fraud", model, datasets=["nope:1"])
    with pytest.raises(NotFoundError, match="^Model 'base' does not exist"):
        client.register_model("fraud", model, fine_tuned_from="base/1")
    assert [count_rows(client, table) for table in ("models", "model_versions", "artifacts")] == [0, 0, 0]


def test_unknown_versions_and_aliases_say_what_exists(client: lw.Client) -> None:
    client.register_model("fraud", fit(fraud_frame()))
    with pytest.raises(NotFoundError) as missing_version:
        client.get_model_version("fraud", 7)
    assert str(missing_version.value) == "Model 'fraud' has no version 7. Its versions: 1."
    assert missing_version.value.specific_code == "not_found.model_version"
    with pytest.raises(NotFoundError) as missing_alias:
        client.load_model("models:/fraud@production")
    assert str(missing_alias.value) == (
        "Model 'fraud' has no alias 'production'. Its aliases: none. Point one at a version with "
        "lw.promote('fraud', VERSION, to='production')."
    )
    with pytest.raises(NotFoundError) as missing_model:
        client.get_model_version("churn")
    assert str(missing_model.value) == (
        "Model 'churn' does not exist. Known models: 'fraud'. Register one with lw.register_model()."
    )
    with pytest.raises(InvalidInputError) as bad:
        client.get_model_version("models:/fraud/x")
    assert str(bad.value) == (
        "A model version is written NAME/VERSION, NAME@ALIAS or models:/NAME/VERSION, e.g. fraud/3 or "
        "models:/fraud@production. Got 'models:/fraud/x' instead."
    )


def test_concurrent_registrations_get_distinct_numbers(client: lw.Client) -> None:
    model = fit(fraud_frame())
    numbers: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def register() -> None:
        try:
            barrier.wait()
            numbers.append(client.register_model("fraud", model).version)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4]


# --- the artifact --------------------------------------------------------------------------------------


def _folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_text("b")
    (root / "sub" / "a.bin").write_bytes(b"\x00\x01")
    return root


def test_the_archive_is_deterministic_whatever_the_times_and_order(tmp_path: Path) -> None:
    first = _folder(tmp_path / "one")
    second = _folder(tmp_path / "two")
    os.utime(second / "b.txt", (1_000_000, 1_000_000))
    one, two = io.BytesIO(), io.BytesIO()
    assert write_archive(first, one) == write_archive(second, two) == 2
    assert one.getvalue() == two.getvalue()
    with tarfile.open(fileobj=io.BytesIO(one.getvalue())) as archive:
        members = archive.getmembers()
    assert [member.name for member in members] == ["b.txt", "sub", "sub/a.bin"]
    assert {(member.mtime, member.uid, member.gid) for member in members} == {(0, 0, 0)}


def test_links_cannot_be_archived(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "model")
    (folder / "link").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInputError, match="is a link or a special file"):
        write_archive(folder, io.BytesIO())


def test_materializing_extracts_once_verified_and_refuses_traversal(
    client: lw.Client, tmp_path: Path
) -> None:
    record = store_model_dir(client.artifacts, client.store, _folder(tmp_path / "model"))
    cache = tmp_path / "cache"
    folder = materialize_model(client.artifacts, record, cache)
    assert (folder / "sub" / "a.bin").read_bytes() == b"\x00\x01"
    assert materialize_model(client.artifacts, record.digest, cache) == folder
    assert sorted(path.name for path in (cache / "models").iterdir()) == [record.digest]

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as archive:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    blob = client.artifacts.put_bytes(evil.getvalue())
    with pytest.raises(ArtifactIntegrityError, match="holds an unsafe entry '../escaped.txt'"):
        materialize_model(client.artifacts, blob.digest, cache)
    assert not (cache / "escaped.txt").exists()
    assert not (cache / "models" / blob.digest).exists()


def test_a_damaged_model_blob_is_refused_on_load(client: lw.Client) -> None:
    version = client.register_model("fraud", fit(fraud_frame()))
    blob = Path(client.artifacts.path_for(version.record.digest))
    blob.write_bytes(blob.read_bytes()[:-10])
    with pytest.raises(ArtifactIntegrityError, match="is corrupt"):
        client.load_model("fraud/1")
