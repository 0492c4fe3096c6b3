"""The taxonomy table in docs/evalset.md says what categories.yaml says."""

from __future__ import annotations

from pathlib import Path

from instructscale.categories import CATEGORY_IDS, categories

DOC = Path(__file__).resolve().parents[2] / "docs" / "evalset.md"


def _taxonomy_rows() -> list[list[str]]:
    lines = DOC.read_text(encoding="utf-8").split("## The 12 categories", 1)[1].splitlines()
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines if line.startswith("| `")]
    return rows


def test_docs_taxonomy_table_matches_the_data_file():
    rows = _taxonomy_rows()
    assert [r[0].strip("`") for r in rows] == list(CATEGORY_IDS)
    for row, cat in zip(rows, categories()):
        assert row[1:4] == [cat.name_en, cat.name_zh, cat.description]
        assert (int(row[5]), float(row[6])) == (cat.paper_count, cat.paper_avg_prompt_len)
        assert all(alias in row[4] for alias in cat.aliases), (cat.id, row[4])
