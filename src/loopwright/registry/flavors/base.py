"""The interface every flavor implements, and the helpers they share.

A flavor knows one kind of model: whether it can save an object (:meth:`Flavor.can_save`, decided from the
object's classes without importing the framework), how to write it into a folder and read it back, how to
call it (:meth:`Flavor.predictor`, :meth:`Flavor.proba`), and which packages it needs. Frameworks are
imported through :func:`require`, the one seam that turns a missing package into
:class:`~loopwright.errors.MissingExtraError` with the ``pip install`` line.
"""

from __future__ import annotations

import importlib.metadata
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar

from loopwright.errors import MissingExtraError, ModelError

__all__ = [
    "Flavor",
    "Predict",
    "defined_in",
    "installed_versions",
    "pickle_model",
    "require",
    "type_name",
    "unpickle_model",
]

Predict = Callable[[Any], Any]
"""A model call: validated input (a pandas DataFrame or numpy array) in, predictions out."""


class Flavor(ABC):
    """One kind of model. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    """The flavor's name in manifests (``sklearn``)."""
    title: ClassVar[str]
    """How messages call its models (``scikit-learn``)."""
    package: ClassVar[str]
    """The distribution that must be installed to load its models (``scikit-learn``); empty for none."""
    module: ClassVar[str]
    """The framework's import name (``sklearn``); empty for none."""
    extra: ClassVar[str]
    """Loopwright's extra that installs the package (``sklearn``)."""
    options: ClassVar[frozenset[str]] = frozenset()
    """The ``flavor_options`` that :meth:`save` understands."""

    def framework(self) -> Any:
        """The framework's module, or :class:`MissingExtraError` naming the extra."""
        return require(
            self.module, feature=f"The {self.title} flavor", package=self.package, extra=self.extra
        )

    @abstractmethod
    def can_save(self, model: Any) -> bool:
        """Whether ``model`` is this flavor's kind of object (checked by class, never by importing)."""

    @abstractmethod
    def save(self, model: Any, directory: Path, options: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``model`` into the empty folder ``directory``; returns the flavor's part of the manifest
        (plain values), which :meth:`load` gets back."""

    @abstractmethod
    def load(self, directory: Path, config: Mapping[str, Any]) -> Any:
        """The native model saved in ``directory``."""

    @abstractmethod
    def predictor(self, native: Any, config: Mapping[str, Any]) -> Predict:
        """The call behind ``predict``; kept as direct as possible (often the native bound method)."""

    def proba(self, native: Any, config: Mapping[str, Any]) -> Predict | None:
        """The call behind ``predict_proba``, or None where the model has none."""
        return None

    def requirements(self, config: Mapping[str, Any]) -> dict[str, str]:
        """The packages (distribution name → installed version) a model saved with ``config`` needs."""
        return installed_versions([self.package] if self.package else [])


def require(module: str, *, feature: str, package: str, extra: str) -> Any:
    """Import ``module``; if it is missing, raise :class:`MissingExtraError` ("… requires torch: pip
    install 'loopwright[torch]'"). The one place flavors import their frameworks (tests patch it)."""
    try:
        return import_module(module)
    except ImportError as error:
        raise MissingExtraError(feature, package, extra) from error


def defined_in(model: Any, top_level: str) -> bool:
    """Whether a class of ``model`` (its own or a base) comes from the package ``top_level``; needs no
    import of that package, so asking costs nothing when it is not installed."""
    return any(cls.__module__.partition(".")[0] == top_level for cls in type(model).__mro__)


def installed_versions(distributions: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}`` for those installed (missing ones are left out)."""
    versions: dict[str, str] = {}
    for distribution in distributions:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def pickle_model(model: Any, path: Path, flavor: str) -> None:
    """Write ``model`` with cloudpickle (protocol 5), or raise :class:`ModelError` saying what could not
    be pickled. cloudpickle writes ordinary pickles, but also stores lambdas and classes defined in
    ``__main__`` (a notebook) by value, so they load in a process that never ran that notebook."""
    import cloudpickle

    try:
        with path.open("wb") as handle:
            cloudpickle.dump(model, handle, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as error:
        raise ModelError(
            f"The {flavor} model of type '{type_name(model)}' cannot be serialised: {error}. Remove the "
            "attribute that holds it (a lock, an open file, a connection), or rebuild it on load with "
            "__getstate__ / __setstate__.",
            model_type=type_name(model),
            flavor=flavor,
            reason=str(error),
        ) from error


def unpickle_model(path: Path) -> Any:
    """Read a model written by :func:`pickle_model` (plain :mod:`pickle`; cloudpickle's by-value objects
    name cloudpickle's own helpers, which it imports)."""
    with path.open("rb") as handle:
        # Loading a model runs its code, as any pickle does: load only models you trust.
        return pickle.load(handle)


def type_name(model: Any) -> str:
    """``module.QualifiedName`` of the model's class, as messages show it."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"
