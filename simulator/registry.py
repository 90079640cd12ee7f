"""One registry shape for everything the simulator looks up by name.

Domains (:data:`iterdeploy.simulator.planning.generators.GENERATORS`), model backends and named models
(:data:`iterdeploy.simulator.models.registry.BACKENDS`,
:data:`~iterdeploy.simulator.models.registry.REGISTERED`),
curation stages and presets (:data:`iterdeploy.simulator.users.stages.STAGES`,
:data:`iterdeploy.simulator.users.policy_spec.PRESETS`) are each a :class:`Registry`: a read-only mapping
from name to entry, in registration order, filled by one ``register`` line per entry. An unknown
name raises the registry's :class:`UnknownNameError` subclass, whose message names what was looked
up, the closest known names and all known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar, overload

from iterdeploy.simulator.errors import IterdeployError

T = TypeVar("T")
D = TypeVar("D")


class UnknownNameError(IterdeployError, KeyError):
    """A name that a registry does not hold.

    A ``KeyError`` (so a :class:`Registry` is a proper ``Mapping``); registries whose callers
    expect another type raise a subclass that also derives from it (``GeneratorParamError``,
    ``ModelError``, ``ValueError`` for pydantic validators).

    Attributes:
        kind: What the registry holds, singular (``domain``).
        name: The name looked up.
        close: The known names closest to it, best first (possibly none).
        known: Every known name, in registration order.
    """

    def __init__(
        self, kind: str, name: str, known: tuple[str, ...], *, plural: str | None = None, hint: str = ""
    ) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        self.close = tuple(difflib.get_close_matches(name, known, n=3))
        suggestion = ""
        if self.close:
            quoted = [repr(c) for c in self.close]
            options = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
            suggestion = f"; did you mean {options}?"
        self.message = (
            f"unknown {kind} {name!r}{suggestion} "
            f"(known {plural or kind + 's'}: {', '.join(known) or 'none'}{hint})"
        )
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would print the message's repr
        return self.message


class Registry(Mapping[str, T], Generic[T]):
    """Name → entry, in registration order; one :meth:`register` call per entry.

    Args:
        kind: What it holds, singular, for messages (``domain``, ``model``, ``curation stage``).
        plural: The plural for messages (default: ``kind + "s"``).
        error: The :class:`UnknownNameError` subclass an unknown name raises.
        hint: Appended to the list of known names in that error (e.g. other accepted spellings).
    """

    def __init__(
        self,
        kind: str,
        *,
        plural: str | None = None,
        error: type[UnknownNameError] = UnknownNameError,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.plural = plural or kind + "s"
        self.error = error
        self.hint = hint
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it.

        Raises:
            ValueError: ``name`` is already registered.
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def unknown(self, name: str) -> UnknownNameError:
        """The error for looking up ``name`` here (for callers that check before they look up)."""
        return self.error(self.kind, name, self.names(), plural=self.plural, hint=self.hint)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    @overload
    def get(self, name: str, /) -> T | None: ...
    @overload
    def get(self, name: str, /, default: T | D) -> T | D: ...
    def get(self, name: str, /, default: object = None) -> object:
        """The entry, or ``default`` when ``name`` is unknown (no error built)."""
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
