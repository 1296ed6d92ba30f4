"""The PyTorch flavor: a module saved as its class's import path plus its ``state_dict``, or a
TorchScript module saved whole.

* A plain ``torch.nn.Module`` is rebuilt at load by importing its class (``package.module:Class``),
  calling it with ``flavor_options={"init_kwargs": {...}}`` (plain values, stored in the manifest), and
  loading the weights with ``torch.load(weights_only=True)``, which runs no pickled code. The class must
  be importable where the model is loaded: one defined in ``__main__`` or inside a function is refused at
  save, before anything is written.
* A TorchScript module (``torch.jit.script`` / ``torch.jit.trace``) carries its own code and is saved with
  ``torch.jit.save``; it needs no class to load. (PyTorch 2.13 deprecates TorchScript in favour of
  ``torch.export``; its deprecation warnings are silenced around our own save and load.)

Predictions run on the CPU in ``inference_mode`` with the module in ``eval`` mode. Inputs become tensors
without a copy where possible; floating inputs are cast to the module's parameter type (float32 for
most modules), because a float64 DataFrame column is the common way a float32 module gets its data.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import warnings
from collections.abc import Iterator, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from loopwright.errors import ModelError
from loopwright.registry.flavors.base import Flavor, Predict, installed_versions

__all__ = ["PyTorchFlavor"]

_STATE_FILE = "state_dict.pt"
_SCRIPT_FILE = "model.pt"


class PyTorchFlavor(Flavor):
    """PyTorch modules (no ``predict_proba``: a module's outputs are whatever its ``forward`` returns)."""

    name = "pytorch"
    title = "PyTorch"
    package = "torch"
    module = "torch"
    extra = "torch"
    options = frozenset({"init_kwargs"})

    def can_save(self, model: Any) -> bool:
        return any(
            cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module"
            for cls in type(model).__mro__
        )

    def save(self, model: Any, directory: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        torch = self.framework()
        dtype = _parameter_dtype(model)
        if isinstance(model, torch.jit.ScriptModule):
            with _torchscript_deprecation_hushed():
                torch.jit.save(model, str(directory / _SCRIPT_FILE))
            return {"format": "torchscript", "file": _SCRIPT_FILE, "dtype": dtype}
        init_kwargs = dict(options.get("init_kwargs") or {})
        path = _import_path(type(model))
        try:
            json.dumps(init_kwargs)
            inspect.signature(type(model)).bind(**init_kwargs)
        except TypeError as error:
            raise ModelError(
                f"The PyTorch module '{path}' cannot be rebuilt from init_kwargs {init_kwargs!r}: {error}. "
                "Pass flavor_options={'init_kwargs': {...}} with its constructor's arguments (plain values), "
                "or save a TorchScript module (torch.jit.script(model)).",
                model_type=path,
                flavor=self.name,
            ) from error
        torch.save(model.state_dict(), str(directory / _STATE_FILE))
        return {
            "format": "state_dict",
            "file": _STATE_FILE,
            "class": path,
            "init_kwargs": init_kwargs,
            "dtype": dtype,
        }

    def load(self, directory: Path, config: Mapping[str, Any]) -> Any:
        torch = self.framework()
        path = directory / str(config["file"])
        if config.get("format") == "torchscript":
            with _torchscript_deprecation_hushed():
                module = torch.jit.load(str(path), map_location="cpu")
        else:
            module_name, _, qualname = str(config["class"]).partition(":")
            cls: Any = import_module(module_name)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            module = cls(**dict(config.get("init_kwargs") or {}))
            module.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))
        module.eval()
        return module

    def predictor(self, native: Any, config: Mapping[str, Any]) -> Predict:
        torch = self.framework()
        dtype = getattr(torch, str(config.get("dtype") or "float32"))

        def predict(data: Any) -> Any:
            array = data if isinstance(data, np.ndarray) else np.asarray(data.to_numpy())
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            if tensor.is_floating_point() and tensor.dtype != dtype:
                tensor = tensor.to(dtype)
            with torch.inference_mode():
                output = native(tensor)
            if isinstance(output, tuple):
                return tuple(item.numpy() for item in output)
            return output.numpy()

        return predict

    def requirements(self, config: Mapping[str, Any]) -> dict[str, str]:
        return installed_versions(["torch", "numpy"])


@contextlib.contextmanager
def _torchscript_deprecation_hushed() -> Iterator[None]:
    """PyTorch 2.13 deprecates TorchScript (``torch.jit.save`` / ``load`` warn). The user chose to hand
    us a TorchScript module; saving and loading it is ours and should not warn on every load."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        yield


def _parameter_dtype(model: Any) -> str:
    for parameter in model.parameters():
        return str(parameter.dtype).removeprefix("torch.")
    return "float32"


def _import_path(cls: type) -> str:
    """``module:QualName`` of ``cls``, after checking that importing it gives back the same class."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    found: Any = None
    if cls.__module__ != "__main__" and "<locals>" not in cls.__qualname__:
        try:
            found = import_module(cls.__module__)
            for part in cls.__qualname__.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            found = None
    if found is not cls:
        raise ModelError(
            f"The PyTorch module class '{path}' cannot be imported where the model is loaded (it is defined "
            "in __main__, inside a function, or not under its module's name). Move it into an importable "
            "module, or save a TorchScript module (torch.jit.script(model)).",
            model_type=path,
            flavor="pytorch",
        )
    return path
