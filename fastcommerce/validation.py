"""Validators: declarative checks that report contract problems without raising."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .errors import PluginError
from .events import LogRecord, Problem
from .naming import unique_names

SEVERITIES = ("error", "warning")


@attrs.frozen(kw_only=True, slots=True)
class ValidationContext:
    """What a validator may look at besides the record itself.

    ``record`` is the stored log row (its recorded time, source and line);
    ``catalog`` maps product ids to products as the catalog stood at the event's place in
    the log, or is ``None`` where no catalog state is tracked.
    """

    record: LogRecord
    catalog: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True, slots=True)
class Validator:
    """A named check on the canonical records of one stream.

    ``codes`` maps each contract code the validator may report to its severity.
    ``check(record, context)`` yields ``(code, reason)`` pairs; the core turns them into
    :class:`~fastcommerce.events.Problem` objects with the declared severity.
    """

    name: str
    stream: str
    codes: Mapping[str, str]
    check: Callable[[dict[str, Any], ValidationContext], Iterable[tuple[str, str]]]
    description: str = ""

    def __attrs_post_init__(self) -> None:
        for code, severity in self.codes.items():
            if severity not in SEVERITIES:
                raise ValueError(f"validator {self.name!r}: code {code!r} has severity {severity!r}")


class ValidatorSet:
    """The validators of every stream, in a stable order (by name)."""

    def __init__(self, validators: Iterable[tuple[str, Validator]]) -> None:
        by_stream: dict[str, list[tuple[str, Validator]]] = {}
        for plugin, v in unique_names("validator", list(validators)):
            by_stream.setdefault(v.stream, []).append((plugin, v))
        self._by_stream = {s: sorted(vs, key=lambda pv: pv[1].name) for s, vs in by_stream.items()}

    def of_stream(self, stream: str) -> list[tuple[str, Validator]]:
        """``(plugin, validator)`` pairs that check ``stream``, in the order they run."""
        return list(self._by_stream.get(stream, ()))

    def all(self) -> list[tuple[str, Validator]]:
        return [pv for s in sorted(self._by_stream) for pv in self._by_stream[s]]

    def run(self, stream: str, record: dict[str, Any], context: ValidationContext) -> list[Problem]:
        problems: list[Problem] = []
        for plugin, v in self._by_stream.get(stream, ()):
            try:
                found = list(v.check(record, context))
            except Exception as exc:
                raise PluginError(
                    f"validator {v.name!r} from plugin {plugin!r} raised "
                    f"{type(exc).__name__}: {exc} on {context.record.where}; validators "
                    f"must return problems, never raise"
                ) from exc
            if not found:
                continue
            for code, reason in found:
                severity = v.codes.get(code)
                if severity is None:
                    raise PluginError(
                        f"validator {v.name!r} from plugin {plugin!r} reported code "
                        f"{code!r}, which it did not declare"
                    )
                problems.append(Problem(code=code, severity=severity, reason=reason, validator=v.name))
        return problems
