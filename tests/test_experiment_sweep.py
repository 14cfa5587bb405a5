"""The validation sweep: unknown variants are refused up front; the table shows size and validation scores."""
import pytest

from workbench.experiments.sweep import VARIANTS, markdown, sweep


def test_unknown_variant_is_named_before_anything_loads():
    with pytest.raises(ValueError, match="rank-7"):
        sweep(["rank-7"])


def test_markdown_row_per_variant():
    rows = {name: {"overrides": list(VARIANTS[name]), "shipped_mb": 1.5, "step": 200,
                   "validation": {"reliability": 0.9, "generalization": 0.5, "locality": 0.95}} for name in VARIANTS}
    table = markdown(rows).splitlines()
    assert len(table) == 2 + len(VARIANTS)
    assert "| rank-128 | (main config) | 1.5 | 90.0 | 50.0 | 95.0 |" in table
    assert any(line.startswith("| rank-32 | editor.rank=32 |") for line in table)
