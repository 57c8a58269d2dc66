"""touchline's attribution engine: the journey store, credit targets and models."""

from ._streaming import attribute_to_dir
from .engine import UNATTRIBUTED, AttributionResult, attribute
from .exceptions import (
    NotFittedError,
    SchemaError,
    TouchlineError,
    TouchlineWarning,
    UnknownModelError,
)
from .models import (
    FirstTouch,
    FullPath,
    Incremental,
    LastTouch,
    Linear,
    Markov,
    Model,
    Shapley,
    TimeDecay,
    UShaped,
    WShaped,
    get_model,
    register_model,
    registered_models,
)
from .problem import TARGETS, build_problem
from .quarters import parse_quarter, quarter_bounds, quarter_labels
from .store import Store, open_store, write_store

__all__ = [
    "TARGETS",
    "UNATTRIBUTED",
    "AttributionResult",
    "FirstTouch",
    "FullPath",
    "Incremental",
    "LastTouch",
    "Linear",
    "Markov",
    "Model",
    "NotFittedError",
    "SchemaError",
    "Shapley",
    "Store",
    "TimeDecay",
    "TouchlineError",
    "TouchlineWarning",
    "UShaped",
    "UnknownModelError",
    "WShaped",
    "attribute",
    "attribute_to_dir",
    "build_problem",
    "get_model",
    "open_store",
    "parse_quarter",
    "quarter_bounds",
    "quarter_labels",
    "register_model",
    "registered_models",
    "write_store",
]
