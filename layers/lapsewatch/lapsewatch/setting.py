"""One declaration per setting: its environment variable, its parser, its default and its help.

A settings class is a frozen dataclass whose fields are declared with `setting(...)`. From that
one declaration come the values read from an environment (`read`), the environment that gives
them back (`to_env`), the defaults and help the command line shows (`from_env_words`,
`from_template_words`), and the run summary's report of them (`summary_of`). This module imports
nothing heavy: the command line reads the declarations while it builds its parser.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# When a variable counts as unset, so that the default applies: unset or only spaces ("blank"),
# unset or empty ("empty"), or only when it is not in the environment at all ("absent": set but
# blank is a value, e.g. no notice stages).
Unset = Literal["blank", "empty", "absent"]
# A parser takes the variable's text and its name (for the message) and raises ValueError.
Parser = Callable[[str, str], Any]

_KEY = "lapsewatch.setting"
# Set in every Lambda function's environment by the Lambda runtime itself: what is for local
# runs only is refused there.
IN_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    parse: Parser
    help: str
    unset: Unset = "blank"
    # Older names, read in turn when `env` is unset.
    aliases: tuple[str, ...] = ()
    # The value as the environment writes it (`to_env`).
    write: Callable[[Any], str] = str
    # The template.yaml parameter that sets it, if one does.
    parameter: str | None = None
    # The default in words, as --help shows it; the written default when None.
    shown: str | None = None
    # Its key among the run summary's settings, and how the summary reports its value.
    summary: str | None = None
    report: Callable[[Any], Any] | None = None

    def text_in(self, env: Mapping[str, str]) -> str | None:
        """The variable's text in `env` (an alias's when it is unset), None when all are unset."""
        for name in (self.env, *self.aliases):
            text = env.get(name)
            if text is None:
                continue
            if self.unset == "absent" or (text.strip() if self.unset == "blank" else text):
                return text
        return None


def setting(
    env: str,
    parse: Parser,
    *,
    help: str,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    repr: bool = True,
    **declared: Any,
) -> Any:
    """A dataclass field declared as a setting; no default makes the variable required."""
    metadata = {_KEY: Setting(env, parse, help, **declared)}
    return dataclasses.field(default=default, default_factory=default_factory, repr=repr, metadata=metadata)


def declared(cls: type) -> Iterator[tuple[dataclasses.Field, Setting]]:
    """A settings class's declared fields, in order, each with its declaration."""
    for field in dataclasses.fields(cls):
        if _KEY in field.metadata:
            yield field, field.metadata[_KEY]


def declaration(cls: type, name: str) -> Setting:
    return next(s for field, s in declared(cls) if field.name == name)


def default_of(cls: type, name: str) -> Any:
    field = next(field for field, _ in declared(cls) if field.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def read(cls: type, env: Mapping[str, str], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The declared fields' values: `given` first, then the environment, then the default.
    Raises ValueError, its message naming the variable."""
    values = {}
    for field, declared_setting in declared(cls):
        if given and field.name in given:
            values[field.name] = given[field.name]
            continue
        text = declared_setting.text_in(env)
        if text is not None:
            values[field.name] = declared_setting.parse(text, declared_setting.env)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"{declared_setting.env} is not set")
    return values


def to_env(settings: object) -> dict[str, str]:
    """The environment that reads back as `settings`; a setting that is None is left unset."""
    env = {}
    for field, declared_setting in declared(type(settings)):
        value = getattr(settings, field.name)
        if value is not None:
            env[declared_setting.env] = declared_setting.write(value)
    return env


def summary_of(settings: object) -> dict[str, Any]:
    """The settings a run summary reports, by their summary keys, in the order declared."""
    reported = {}
    for field, declared_setting in declared(type(settings)):
        if declared_setting.summary is not None:
            value = getattr(settings, field.name)
            reported[declared_setting.summary] = (declared_setting.report or _same)(value)
    return reported


def shown_default(cls: type, name: str) -> str:
    """A setting's default in words, as --help shows it."""
    declared_setting = declaration(cls, name)
    if declared_setting.shown is not None:
        return declared_setting.shown
    return declared_setting.write(default_of(cls, name))


def from_env_words(cls: type, name: str, *, listed: bool = False) -> str:
    """Where an unset option's value comes from, for a command that reads the environment:
    "$LAPSEWATCH_RDAP_RATE, else 5"."""
    separated = ", comma-separated" if listed else ""
    return f"${declaration(cls, name).env}{separated}, else {shown_default(cls, name)}"


def from_template_words(cls: type, name: str) -> str:
    """The same, for a command that runs the functions with template.yaml's environment:
    "template.yaml's RdapRatePerServer, 5"."""
    return f"template.yaml's {declaration(cls, name).parameter}, {shown_default(cls, name)}"


def _same(value: Any) -> Any:
    return value


# The parsers the declarations share, each raising ValueError with the variable's name.


def text(value: str, name: str) -> str:
    return value.strip()


def raw_text(value: str, name: str) -> str:
    return value


def switch(value: str, name: str) -> bool:
    """true or false, as an operator writes it (yes/no, on/off, 1/0 too)."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {word!r}")


def write_switch(value: bool) -> str:
    return "true" if value else "false"


def whole_number(minimum: int, maximum: int | None = None) -> Parser:
    def parse(value: str, name: str) -> int:
        stripped = value.strip()
        try:
            number = int(stripped)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {stripped!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError(f"{name} must be between {minimum} and {maximum or 'any'}, not {number}")
        return number

    return parse


def fraction(value: str, name: str) -> float:
    """A number from 0 to 1, both included."""
    stripped = value.strip()
    try:
        number = float(stripped)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {stripped!r}") from None
    if not 0 <= number <= 1:
        raise ValueError(f"{name} must be between 0 and 1, not {number}")
    return number


def positive_number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not number > 0:
        raise ValueError(f"{name} must be greater than 0, not {value!r}")
    return number


def write_number(value: float) -> str:
    """5.0 as "5", 0.01 as "0.01": as an operator writes it, and as float() reads it back."""
    return f"{value:g}" if float(f"{value:g}") == value else repr(value)


def listed(values: Any) -> str:
    """A set or sequence of names, comma-separated (sets sorted)."""
    names = sorted(values) if isinstance(values, (set, frozenset)) else values
    return ",".join(str(name) for name in names)
