"""The price table: packaged data, overrides, snapshot names, unknown models."""

from __future__ import annotations

import pytest

from tritonwright.llm.pricing import PriceFileError, call_cost_usd, find_price, load_prices


def test_packaged_table_loads_and_every_entry_is_positive():
    table = load_prices()
    assert {"gpt-5", "claude-sonnet-4-5", "gpt-4o-mini"} <= set(table)
    assert all(p.input_per_mtok > 0 and p.output_per_mtok >= p.input_per_mtok for p in table.values())


def test_snapshot_and_router_names_use_the_base_entry_but_other_variants_do_not():
    table = load_prices()
    assert find_price(table, "gpt-4o-2024-08-06") == table["gpt-4o"]
    assert find_price(table, "claude-sonnet-4-5-20250929") == table["claude-sonnet-4-5"]
    assert find_price(table, "openai/gpt-5") == table["gpt-5"]
    assert find_price(table, "gpt-5-mini") == table["gpt-5-mini"]
    assert find_price(table, "gpt-5-pro") is None  # a different, pricier model: unknown, not gpt-5's price


def test_cost_and_unknowns():
    table = load_prices()
    p = table["gpt-5"]
    assert call_cost_usd(table, "gpt-5", 1_000_000, 100_000) == pytest.approx(p.input_per_mtok + p.output_per_mtok / 10)
    assert call_cost_usd(table, "my-local-model", 10, 10) is None
    assert call_cost_usd(table, "gpt-5", None, 10) is None


def test_override_file_replaces_and_adds(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[models."gpt-5"]\ninput_per_mtok = 9\noutput_per_mtok = 99\n'
                 '[models."Qwen2.5-Coder-32B"]\ninput_per_mtok = 0\noutput_per_mtok = 0\n')
    table = load_prices(f)
    assert table["gpt-5"].input_per_mtok == 9 and call_cost_usd(table, "Qwen2.5-Coder-32B", 5, 5) == 0.0
    assert "claude-sonnet-4-5" in table


@pytest.mark.parametrize("text", ['[models."x"]\ninput_per_mtok = 1\n', "not toml ["])
def test_bad_override_is_a_user_error(tmp_path, text):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(PriceFileError, match=str(f)):
        load_prices(f)
    with pytest.raises(PriceFileError, match="cannot read"):
        load_prices(tmp_path / "missing.toml")
