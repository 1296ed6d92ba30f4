"""Model cards: the sections both formats share, self-contained HTML, and escaping of everything users wrote."""

from __future__ import annotations

import re

import loopwright as lw
from tests.registry.conftest import FEATURES, fit, fraud_frame

HOSTILE = '<script>alert("x")</script> [click](http://evil.example) | *bold* `code`'


def _version(client: lw.Client) -> lw.ModelVersion:
    train = fraud_frame()
    held_out = fraud_frame(120, seed=4)
    held_out.loc[:9, "region"] = HOSTILE
    client.log_dataset("transactions", train)
    version = client.register_model(
        "fraud",
        fit(train),
        input_example=train[FEATURES].head(),
        datasets=["transactions:1"],
        description=HOSTILE,
        tags={"intended_use": "Score card transactions for review.", "note": HOSTILE},
    )
    client.evaluate(version, client.log_dataset("eval", held_out), target="label", segments=["region"])
    client.promote(version, to="staging", force=True, reason=HOSTILE)
    return version


def test_the_markdown_card_has_every_section_and_no_live_markup(client: lw.Client) -> None:
    markdown = client.model_card(_version(client)).to_markdown()
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == [
        "# Model card: fraud version 1",
        "## Overview",
        "## Intended use",
        "## Training data",
        "## Signature",
        "## Evaluation",
        "## Gates passed",
        "## Lineage",
    ]
    assert "Score card transactions for review." in markdown
    assert "| transactions:1 | 300 | 4 |" in markdown
    assert "| amount | float64 |" in markdown
    assert "**On eval:1: target label, 120 rows, classification," in markdown
    assert "**To staging on " in markdown
    assert "<script" not in markdown
    assert "&lt;script&gt;" in markdown
    assert not re.search(r"(?<!\\)\]\(http", markdown)  # the link's brackets are escaped: no link forms
    assert re.search(r"\\\[click\\\]\(http://evil\.example\) \\\| \\\*bold\\\* \\`code\\`", markdown)


def test_the_html_card_is_self_contained_and_escapes_everything(client: lw.Client) -> None:
    page = client.model_card(_version(client)).to_html()
    assert page.startswith("<!DOCTYPE html>\n")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert (
        "http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\""
        in page
    )
    assert not re.search(r"(src|href)=", page)  # nothing is fetched
    assert "<h2>Evaluation</h2>" in page
    assert "<th>Segment</th>" in page


def test_a_bare_version_says_what_is_missing(client: lw.Client) -> None:
    version = client.register_model("plain", fit(fraud_frame()))
    markdown = version.card().to_markdown()
    for sentence in (
        "Not stated. Describe it in the model's description or an 'intended\\_use' tag of the version.",
        "No training data is recorded for this version.",
        "No signature: inputs are not checked.",
        "Not evaluated yet.",
        "Not promoted through gates yet.",
    ):
        assert sentence in markdown
