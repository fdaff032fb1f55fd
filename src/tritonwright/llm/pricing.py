"""Cost of a call from a price table kept as data (prices.toml), which a user file can override."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tritonwright.errors import UserInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# A dated snapshot of a listed model shares its price: -2024-08-06 or -20250929 after the base name.
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
_VENDOR_PREFIX = re.compile(r"^(?:openai|anthropic)/")  # OpenRouter-style names: openai/gpt-5


class PriceFileError(UserInputError):
    """The price file cannot be read or has entries without both prices."""


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


def _parse_table(text: str, origin: str) -> dict[str, Price]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"{origin}: not valid TOML: {exc}") from None
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise PriceFileError(f"{origin}: [models] must be a table of model names")
    table: dict[str, Price] = {}
    for name, entry in models.items():
        try:
            table[name] = Price(float(entry["input_per_mtok"]), float(entry["output_per_mtok"]))
        except (KeyError, TypeError, ValueError):
            raise PriceFileError(f"{origin}: model {name!r} needs numbers input_per_mtok and output_per_mtok"
                                 ) from None
    return table


def load_prices(override: str | Path | None = None) -> dict[str, Price]:
    """The packaged table, with the entries of `override` (a TOML file of the same shape) replacing it."""
    packaged = resources.files("tritonwright.llm").joinpath("prices.toml").read_text(encoding="utf-8")
    table = _parse_table(packaged, "prices.toml")
    if override is not None:
        path = Path(override)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PriceFileError(f"{path}: cannot read price file: {exc.strerror}") from None
        table.update(_parse_table(text, str(path)))
    return table


def find_price(table: dict[str, Price], model: str) -> Price | None:
    if model in table:
        return table[model]
    base = _DATE_SUFFIX.sub("", _VENDOR_PREFIX.sub("", model))
    return table.get(base)


def call_cost_usd(table: dict[str, Price], model: str, input_tokens: int | None, output_tokens: int | None
                  ) -> float | None:
    """Dollars for one call, or None when the model has no price or the server gave no token counts."""
    price = find_price(table, model)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return price.cost_usd(input_tokens, output_tokens)
