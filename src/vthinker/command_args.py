"""Command lines of the ``vthinker`` tool commands, built with jsonargparse from signatures.

A tool command (``make-toy-data``, ``make-tiny``, ``export``, ``data check``) takes its
options from the function that does the work: each parameter becomes ``--the-name`` (dashes,
as users type them), with the function's default and type (a ``Literal`` gives choices) and
the help of its docstring's ``Args:`` entry, so a default is stated once, in the signature.
The parser also reads its options from a YAML file (``--config``) unless the command uses
that flag for something else. A bad value is refused with the option's name.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any

from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser

__all__ = ["add_function_flags", "command_parser", "docstring_help"]


def docstring_help(func: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The summary of ``func``'s docstring and the help of each parameter it documents."""
    import docstring_parser

    doc = docstring_parser.parse(inspect.getdoc(func) or "")
    summary = " ".join(x for x in (doc.short_description, doc.long_description) if x)
    return summary, {p.arg_name: " ".join((p.description or "").split()) for p in doc.params}


def command_parser(prog: str, description: str, config_file: bool = True) -> ArgumentParser:
    """An empty parser for a tool command (with ``--config FILE.yaml`` when ``config_file``)."""
    parser = ArgumentParser(prog=prog, description=description, default_env=False)
    if config_file:
        parser.add_argument(
            "--config", action=ActionConfigFile, help="a YAML file of these options"
        )
    return parser


def add_function_flags(
    parser: ArgumentParser,
    func: Callable[..., Any],
    *,
    skip: Iterable[str] = (),
    positional: Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
) -> list[str]:
    """Add ``func``'s parameters to ``parser``: ``--dashed-name`` flags, or positionals.

    Args:
        parser: The command's parser.
        func: The function whose signature states the types, defaults and (docstring) help.
        skip: Parameters the command sets itself.
        positional: Parameters given without a flag (optional when they have a default).
        defaults: Defaults of parameters that have none in the signature (e.g. the output
            folder of a command, where the function requires one).

    Returns:
        The parameter names added (the keys of the parsed namespace to pass on to ``func``).

    A ``bool`` parameter becomes a switch (``--overwrite`` / ``--no-overwrite``).
    """
    _, helps = docstring_help(func)
    hints = typing.get_type_hints(func)
    skip, positional, defaults = set(skip), set(positional), defaults or {}
    added = []
    for name, param in inspect.signature(func).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = defaults.get(name, param.default)
        kwargs: dict[str, Any] = {"help": helps.get(name) or None}
        if default is not param.empty:
            kwargs["default"] = default
        if name in positional:
            if default is not param.empty:
                kwargs["nargs"] = "?"
            parser.add_argument(name, type=hints[name], **kwargs)
        elif hints[name] is bool:
            flag = "--" + name.replace("_", "-")
            parser.add_argument(flag, action=ActionYesNo(no_prefix="no-"), dest=name, **kwargs)
        else:
            kwargs["required"] = default is param.empty
            flag = "--" + name.replace("_", "-")
            parser.add_argument(flag, type=hints[name], dest=name, **kwargs)
        added.append(name)
    return added
