"""The model contract and the registry of models by name.

A model is a small object with keyword-only parameters stored by ``__init__``.
``fit`` learns what it needs from a :class:`~attribution.problem.Problem` (rule-based
models learn nothing and return ``self``) and sets attributes ending in ``_``;
``touch_credit`` returns the money credit of every eligible touch of the converting
journeys. Subclassing :class:`Model` with a ``name`` registers the class; third-party
models arrive through the ``touchline.models`` entry-point group.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from ..exceptions import (
    NotFittedError,
    TouchlineError,
    TouchlineWarning,
    UnknownModelError,
)
from ..problem import Problem

__all__ = [
    "Model",
    "ModelCredit",
    "get_model",
    "make_model",
    "register_model",
    "registered_models",
]

_REGISTRY: dict[str, type[Model]] = {}
_PLUGINS_LOADED = False


class PluginWarning(TouchlineWarning):
    """A ``touchline.models`` entry point that could not be loaded."""


@dataclass(eq=False)
class ModelCredit:
    """What a model hands the engine for one problem.

    ``touch`` holds the credit of every touch of ``problem.conv`` (money, weight
    included); ``by_channel`` the channel totals (equal to summing ``touch`` by
    channel for per-journey models); ``unattributed`` the amount the model could not
    place on any channel (beyond the problem's own unattributed amount); ``extra``
    credit on pseudo-channel rows of ``channel_credit`` that no touch holds, such as
    ``incremental``'s ``(baseline)``.
    """

    touch: np.ndarray
    by_channel: np.ndarray
    unattributed: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class Model:
    """Base class of attribution models.

    Subclasses set ``name`` (the registry key) and implement ``_fractions`` (per-
    journey models: each converting journey's touches get fractions summing to 1) or
    override ``_credit`` (global models such as ``markov``).
    """

    name: ClassVar[str] = ""
    #: Per-journey models credit each journey exactly its amount (DESIGN §3).
    per_journey: ClassVar[bool] = True
    #: Whether the model needs touch timestamps (it refuses timeless paths).
    needs_time: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            register_model(cls)

    # -- scikit-learn style parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind is p.KEYWORD_ONLY
        ]

    def get_params(self) -> dict[str, Any]:
        """Parameters of this model, by name."""
        return {k: getattr(self, k) for k in self._param_names()}

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = []
        for k, v in self.get_params().items():
            default = sig.parameters[k].default
            if not _same(v, default):
                changed.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def describe(self) -> dict[str, Any]:
        """Return a JSON-serialisable form: the registry name and the parameters."""
        return {
            "name": self.name,
            "params": {k: _jsonable(v) for k, v in self.get_params().items()},
        }

    # -- fitting and crediting
    def fit(self, problem: Problem) -> Model:
        """Learn from ``problem`` (nothing for rule-based models); return ``self``."""
        self._check_problem(problem)
        self.fitted_target_ = problem.target
        return self

    def _check_problem(self, problem: Problem) -> None:
        if self.needs_time and problem.conv_timeless.any():
            raise TouchlineError(
                f"{self.name}: needs touch timestamps, but "
                f"{int(problem.conv_timeless.sum())} converting journey(s) are "
                "timeless aggregated paths; leave this model out for path data"
            )

    def credit(self, problem: Problem) -> ModelCredit:
        """Return the credit of every eligible touch of the converting journeys.

        Raises
        ------
        NotFittedError
            When called before :meth:`fit`.
        """
        if not hasattr(self, "fitted_target_"):
            raise NotFittedError(f"{type(self).__name__}: call fit() before credit()")
        if self.fitted_target_ != problem.target:
            raise NotFittedError(
                f"{type(self).__name__}: fitted on target "
                f"{self.fitted_target_!r}, asked for {problem.target!r}"
            )
        return self._credit(problem)

    def _credit(self, problem: Problem) -> ModelCredit:
        touch = problem.spread(self._fractions(problem))
        by_channel = np.bincount(
            problem.conv_channel, weights=touch, minlength=problem.n_channels
        )
        return ModelCredit(touch=touch, by_channel=by_channel)

    def _fractions(self, problem: Problem) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def clone(self) -> Model:
        """Return a new, unfitted model with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def register_model(cls: type[Model]) -> type[Model]:
    """Register a model class under its ``name`` (done for every named subclass).

    Raises
    ------
    TouchlineError
        When the name is empty or taken by another class, or ``_fractions`` /
        ``_credit`` is missing.
    """
    if not cls.name or not isinstance(cls.name, str):
        raise TouchlineError(f"{cls.__name__}: a model needs a non-empty string `name`")
    other = _REGISTRY.get(cls.name)
    if other is not None and other.__qualname__ != cls.__qualname__:
        raise TouchlineError(
            f"model name {cls.name!r} is taken by {other.__module__}."
            f"{other.__qualname__}; pick another name for "
            f"{cls.__module__}.{cls.__qualname__}"
        )
    if cls._fractions is Model._fractions and cls._credit is Model._credit:
        raise TouchlineError(
            f"{cls.__name__}: implement _fractions (per-journey "
            "models) or _credit (global models)"
        )
    _REGISTRY[cls.name] = cls
    return cls


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for ep in metadata.entry_points(group="touchline.models"):
        try:
            obj = ep.load()
            if (
                isinstance(obj, type)
                and issubclass(obj, Model)
                and obj.name not in _REGISTRY
            ):
                register_model(obj)
        except Exception as exc:  # a broken plugin must not break touchline
            warnings.warn(
                f"touchline.models entry point {ep.name!r} could not be loaded: {exc}",
                PluginWarning,
                stacklevel=2,
            )


def registered_models() -> list[str]:
    """Names of every registered model, built-in first, in registration order."""
    _load_plugins()
    return list(_REGISTRY)


def get_model(name: str) -> type[Model]:
    """Look a model class up by name.

    Raises
    ------
    UnknownModelError
        Listing the registered names.
    """
    _load_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; registered models: {', '.join(_REGISTRY)}"
        ) from None


def make_model(spec: str | Model) -> Model:
    """Make a model object from a name (default parameters) or an object (cloned)."""
    if isinstance(spec, Model):
        return spec.clone()
    return get_model(spec)()
