"""Model flavors: one module per framework, each a :class:`~loopwright.registry.flavors.base.Flavor`.

Importing this package imports no framework: each flavor imports its own on save or load.
"""

from __future__ import annotations

from typing import Any

from loopwright.errors import ModelError
from loopwright.registry.flavors.base import Flavor, type_name
from loopwright.registry.flavors.lightgbm import LightGBMFlavor
from loopwright.registry.flavors.python import PythonFlavor, PythonModel
from loopwright.registry.flavors.pytorch import PyTorchFlavor
from loopwright.registry.flavors.sklearn import SklearnFlavor
from loopwright.registry.flavors.xgboost import XGBoostFlavor

__all__ = ["FLAVORS", "Flavor", "flavor_for", "flavor_named"]

# Order matters when inferring: XGBoost's and LightGBM's estimators are scikit-learn estimators too, and
# are better saved in their native formats than pickled.
FLAVORS: dict[str, Flavor] = {
    flavor.name: flavor
    for flavor in (XGBoostFlavor(), LightGBMFlavor(), PyTorchFlavor(), SklearnFlavor(), PythonFlavor())
}


def flavor_named(name: str) -> Flavor:
    """The flavor called ``name``, or :class:`ModelError` listing the known ones."""
    flavor = FLAVORS.get(name) if isinstance(name, str) else None
    if flavor is None:
        raise ModelError(
            f"The flavor must be one of {', '.join(map(repr, sorted(FLAVORS)))}. Got {name!r} instead.",
            flavor=name,
        )
    return flavor


def flavor_for(model: Any, name: str | None = None) -> Flavor:
    """The flavor that saves ``model``: the one called ``name``, or else the first that recognises it."""
    if name is not None:
        flavor = flavor_named(name)
        if not flavor.can_save(model):
            raise ModelError(
                f"The {flavor.name} flavor cannot save a model of type '{type_name(model)}'. Leave flavor= "
                "out to infer it, or wrap the model in a lw.PythonModel.",
                flavor=flavor.name,
                model_type=type_name(model),
            )
        return flavor
    if isinstance(model, PythonModel):
        return FLAVORS["python"]
    for flavor in FLAVORS.values():
        if flavor.name != "python" and flavor.can_save(model):
            return flavor
    raise ModelError(
        f"No flavor can save a model of type '{type_name(model)}'. Loopwright saves scikit-learn, XGBoost, "
        "LightGBM and PyTorch models and lw.PythonModel subclasses; wrap other models in a lw.PythonModel, "
        "or pass flavor='python' for an object with a predict method.",
        model_type=type_name(model),
    )
