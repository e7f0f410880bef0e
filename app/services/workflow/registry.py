"""The registry of process slices: what each BPMN process means to the app, looked up by the workflow adapter.

A slice (``processes/<name>/``) declares one :class:`ProcessSlice`; ``processes.SLICES`` lists them and the app
factory installs that list here. This module imports nothing of the domain, so the adapter can look up effects,
completion hooks, task forms, letters and application kinds without importing the slices that define them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessSlice:
    key: str  # the BPMN process id and the folder name, e.g. "objection_review"
    case_type: str  # Case.type of the cases it runs, e.g. "objection"
    folder: Path  # holds the .bpmn and the .dmn files it calls
    case_prefix: str  # the case number's prefix, e.g. YY-2026-000123
    # Effect handlers by name: BPMN scripts emit(name, **args); handler(case, user_id, **args).
    effects: Mapping[str, Callable] = field(default_factory=dict)
    # Per-form hooks: formKey -> hook(case, user, clean_values) returning extra routing data.
    hooks: Mapping[str, Callable] = field(default_factory=dict)
    # The task forms of its user tasks (app.services.workflow.taskforms.TaskForm).
    forms: tuple = ()
    # Its letters: letter type -> app.services.letters.LetterType (title, series, text, context).
    letters: Mapping[str, Any] = field(default_factory=dict)
    # How a unit files it (app.services.applications.ApplicationKind); None when the office opens it.
    application: Any = None
    # Date rules the worker runs once per local day: fn(limit) -> count.
    daily: tuple[Callable[[int], int], ...] = ()
    # Its user tasks' names by BPMN id, as translatable text (the BPMN names them in Chinese only).
    steps: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Registry:
    slices: dict[str, ProcessSlice] = field(default_factory=dict)  # by case type
    effects: dict[str, Callable] = field(default_factory=dict)
    hooks: dict[str, Callable] = field(default_factory=dict)
    forms: dict[str, Any] = field(default_factory=dict)
    letters: dict[str, Any] = field(default_factory=dict)


_REGISTRY = _Registry()


def _merge(target: dict, items: Mapping, what: str, owner: str) -> None:
    for key, value in items.items():
        if key in target and target[key] is not value:
            raise RuntimeError(f"{owner}: {what} {key!r} is already defined by another process slice")
        target[key] = value


def install(slices: Iterable[ProcessSlice], common_effects: Mapping[str, Callable]) -> None:
    """Register the slices and the effects every process may emit (the app factory calls this with
    processes.SLICES and app.services.workflow.effects.COMMON; calling again replaces the registry)."""
    registry = _Registry()
    _merge(registry.effects, common_effects, "effect", "workflow")
    for piece in slices:
        if piece.case_type in registry.slices:
            raise RuntimeError(f"{piece.key}: case type {piece.case_type!r} is already taken")
        registry.slices[piece.case_type] = piece
        _merge(registry.effects, piece.effects, "effect", piece.key)
        _merge(registry.hooks, piece.hooks, "completion hook", piece.key)
        _merge(registry.forms, {form.key: form for form in piece.forms}, "task form", piece.key)
        _merge(registry.letters, piece.letters, "letter type", piece.key)
    global _REGISTRY
    _REGISTRY = registry


def slices() -> list[ProcessSlice]:
    return list(_REGISTRY.slices.values())


def slice_for(case_type: str) -> ProcessSlice:
    return _REGISTRY.slices[case_type]


def process_key(case_type: str) -> str:
    return _REGISTRY.slices[case_type].key


def process_keys() -> dict[str, str]:
    """Case type -> BPMN process id, for every registered process."""
    return {t: s.key for t, s in _REGISTRY.slices.items()}


def effect(name: str) -> Callable:
    return _REGISTRY.effects[name]


def completion_hook(form_key: str) -> Callable | None:
    return _REGISTRY.hooks.get(form_key)


def task_forms() -> dict[str, Any]:
    return dict(_REGISTRY.forms)


def form_for(key: str):
    """Return the form of a task's formKey (deploy lint guarantees every task has one)."""
    return _REGISTRY.forms[key]


def letter_types() -> dict[str, Any]:
    return dict(_REGISTRY.letters)


def letter_type(name: str):
    return _REGISTRY.letters[name]


def application(case_type: str):
    return _REGISTRY.slices[case_type].application


def step_name(case_type: str, bpmn_id: str, title: str) -> str:
    """A user task's name in the interface language; title (the name the BPMN gave it) for a step not listed."""
    piece = _REGISTRY.slices.get(case_type)
    label = piece.steps.get(bpmn_id) if piece else None
    return str(label) if label is not None else title


def daily_rules() -> list[tuple[str, Callable[[int], int]]]:
    return [(f"{s.key}.{fn.__name__}", fn) for s in _REGISTRY.slices.values() for fn in s.daily]
