"""Immutable value records: a class's annotated fields as a namedtuple, written like a frozen dataclass."""

from __future__ import annotations

from collections import namedtuple


def record(cls):
    """`cls` as a namedtuple class with its annotated fields, defaults, docstring and methods.

    What @dataclass(frozen=True) gave these values (immutable, equal by value, a readable repr; `_replace`
    for dataclasses.replace) at a tenth of the cost to define: a dataclass compiles six methods per class,
    ~1 ms each class, and `pipdoctor check` defines some 25 of them inside its 100 ms budget (scripts/bench,
    section check). Unlike a dataclass it is a tuple too: equality and repr cover every field (no
    compare=False), a record holding a dict cannot be hashed, and nothing here iterates or indexes one.
    """
    names = list(cls.__dict__.get("__annotations__", {}))
    defaults = [cls.__dict__[name] for name in names if name in cls.__dict__]
    if names[len(names) - len(defaults):] != [name for name in names if name in cls.__dict__]:
        raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
    base = namedtuple(cls.__name__, names, defaults=defaults, module=cls.__module__)
    body = {key: value for key, value in cls.__dict__.items()
            if key not in names and key not in ("__dict__", "__weakref__")}
    body["__slots__"] = ()
    return type(cls.__name__, (base,), body)
