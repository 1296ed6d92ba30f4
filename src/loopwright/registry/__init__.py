"""The model registry: the model format (a folder with a manifest), flavors, signatures, and the versions,
aliases and promotions recorded on top of them."""
