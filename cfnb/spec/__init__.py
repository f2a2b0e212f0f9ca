"""The Factory spec: stages as data, read from and written to TOML or JSON.

>>> from cfnb.spec import Factory, Stage, event, prop
>>> factory = Factory(
...     [
...         Stage("Acquisition", event("visit")),
...         Stage("Activation", event("created_project"), within="14d", target=0.4),
...         Stage("Revenue", event("purchase") & (prop("amount") > 10)),
...     ],
...     window="30d",
... )
>>> Factory.from_toml(factory.to_toml()) == factory
True
"""

from cfnb.spec.durations import DurationLike, format_duration, parse_duration
from cfnb.spec.errors import SpecError
from cfnb.spec.factory import MODES, Factory, Mode, Stage
from cfnb.spec.predicates import (
    And,
    AnyEvent,
    Compare,
    Condition,
    Contains,
    EventIn,
    IsIn,
    IsNull,
    Not,
    NotNull,
    Or,
    Predicate,
    Prop,
    Value,
    all_of,
    any_event,
    any_of,
    event,
    event_in,
    not_,
    prop,
)

__all__ = [
    "MODES",
    "And",
    "AnyEvent",
    "Compare",
    "Condition",
    "Contains",
    "DurationLike",
    "EventIn",
    "Factory",
    "IsIn",
    "IsNull",
    "Mode",
    "Not",
    "NotNull",
    "Or",
    "Predicate",
    "Prop",
    "SpecError",
    "Stage",
    "Value",
    "all_of",
    "any_event",
    "any_of",
    "event",
    "event_in",
    "format_duration",
    "not_",
    "parse_duration",
    "prop",
]
