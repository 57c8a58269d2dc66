"""Built-in attribution models and the model registry."""

# Import order is registry order (what `--models all` runs and error messages list):
# the positional models first, then the global ones.
from .base import (
    Model,
    ModelCredit,
    get_model,
    make_model,
    register_model,
    registered_models,
)
from .rules import FirstTouch, FullPath, LastTouch, Linear, TimeDecay, UShaped, WShaped
from .markov import Markov
from .shapley import Shapley
from .incremental import Incremental

__all__ = [
    "FirstTouch",
    "FullPath",
    "Incremental",
    "LastTouch",
    "Linear",
    "Markov",
    "Model",
    "ModelCredit",
    "Shapley",
    "TimeDecay",
    "UShaped",
    "WShaped",
    "get_model",
    "make_model",
    "register_model",
    "registered_models",
]
