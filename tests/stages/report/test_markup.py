"""The report's markup: one list of blocks rendered as Markdown and as one self-contained HTML page."""

from __future__ import annotations

from stages.report.markup import Heading, Image, Paragraph, Preformatted, Table, to_html, to_markdown


def test_markup_escapes_text_for_both_formats():
    # Protects: names and values cannot break a Markdown table or inject HTML.
    blocks = [
        Heading(1, "a <b>"),
        Paragraph("x_y *z*"),
        Table(["k", "v"], [["a|b", "[1, 2]"]]),
        Image("figures/a.png", "cap <i>"),
        Preformatted("```\n<pre>"),
    ]
    markdown, page = to_markdown(blocks), to_html("t", blocks)
    assert "| a\\|b | \\[1, 2\\] |" in markdown
    assert "x\\_y \\*z\\*" in markdown
    assert "````text\n```\n<pre>\n````" in markdown  # the fence outgrows any backtick run inside
    assert "<b>" not in page and "<i>" not in page and "&lt;pre&gt;" in page
    assert '<img src="figures/a.png" alt="cap &lt;i&gt;">' in page
