"""Built-in attribution models and the model registry."""

from .base import Model, ModelCredit, get_model, make_model, register_model, registered_models
from .markov import Markov
from .rules import FirstTouch, FullPath, LastTouch, Linear, TimeDecay, UShaped, WShaped

__all__ = [
    "FirstTouch",
    "FullPath",
    "LastTouch",
    "Linear",
    "Markov",
    "Model",
    "ModelCredit",
    "TimeDecay",
    "UShaped",
    "WShaped",
    "get_model",
    "make_model",
    "register_model",
    "registered_models",
]
