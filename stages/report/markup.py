"""A tiny document model (headings, paragraphs, tables, images, preformatted text, the drawing
pad) and two renderers.

`to_markdown` writes CommonMark/GFM that any Git host renders; `to_html` writes one
self-contained page: inline CSS, no network resource, images and the pad's weights referenced by
the relative paths given; its only script is the drawing pad's (pad.js, inlined). The same blocks
give the same bytes (no timestamps).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

PAD_SCRIPT = Path(__file__).with_name("pad.js")
PAD_SIDE = 280  # the canvas, in CSS pixels: ten per MNIST pixel
PAD_SEEN = 28  # the digit the models read, one canvas pixel per MNIST pixel (drawn three times larger)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: bool = True  # right-align every column after the first


@dataclass(frozen=True)
class Image:
    src: str  # relative to the page, e.g. figures/comparison.png
    caption: str


@dataclass(frozen=True)
class Preformatted:
    text: str


@dataclass(frozen=True)
class Pad:
    """A canvas to draw a digit on, read by every architecture's model in the browser (pad.js)."""

    weights: str  # the weights' script, relative to the page, e.g. pad/models.js
    labels: list[str]  # the classes, one column each
    note: str  # what the Markdown page says instead


Block = Heading | Paragraph | Table | Image | Preformatted | Pad


def format_seconds(seconds: float) -> str:
    """A training time for people: '12.3 s'."""
    return f"{seconds:.1f} s"


def to_markdown(blocks: list[Block]) -> str:
    """README.md: plain CommonMark/GFM (pipe tables, fenced code) that any Git host renders."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {_md(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(_md(block.text))
        elif isinstance(block, Table):
            align = ["---", *(["---:" if block.numeric else "---"] * (len(block.header) - 1))]
            lines = [block.header, align, *block.rows]
            parts.append(
                "\n".join(
                    "| " + " | ".join(_md(cell) if line is not align else cell for cell in line) + " |"
                    for line in lines
                )
            )
        elif isinstance(block, Image):
            parts.append(f"![{_md(block.caption)}]({block.src})\n\n*{_md(block.caption)}*")
        elif isinstance(block, Pad):
            parts.append(_md(block.note))
        else:
            fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", block.text)), default=0))
            parts.append(f"{fence}text\n{block.text.rstrip()}\n{fence}")
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    """Escape Markdown's inline syntax so names like wide_1 or values like [128, 64] show as typed."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", text)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 0 auto; padding: 1rem 2rem;
       line-height: 1.45; color: #1f2328; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f6f8fa; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 1.5rem; }
img { max-width: 100%; height: auto; }
figcaption { color: #59636e; font-size: 0.9rem; }
pre { background: #f6f8fa; padding: 0.75rem; overflow-x: auto; }
.pad { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
#pad-canvas { border: 1px solid #d0d7de; touch-action: none; cursor: crosshair; }
#pad-seen { width: 84px; height: 84px; image-rendering: pixelated; vertical-align: middle;
            background: black; }
.pad-digit { font-size: 1.6rem; font-weight: bold; text-align: center; }
"""


def to_html(title: str, blocks: list[Block]) -> str:
    """index.html: one self-contained page (inline CSS, no script, relative image paths)."""
    sections = [
        (i, block.text) for i, block in enumerate(blocks) if isinstance(block, Heading) and block.level == 2
    ]
    ids = {index: f"section-{number}" for number, (index, _) in enumerate(sections, start=1)}
    links = "".join(f'<li><a href="#{ids[i]}">{html.escape(text)}</a></li>' for i, text in sections)
    body = []
    for i, block in enumerate(blocks):
        if isinstance(block, Heading):
            anchor = f' id="{ids[i]}"' if i in ids else ""
            body.append(f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(_html_table(block))
        elif isinstance(block, Pad):
            body.append(_html_pad(block))
        elif isinstance(block, Image):
            src, caption = html.escape(block.src), html.escape(block.caption)
            body.append(
                f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
            )
        else:
            body.append(f"<pre>{html.escape(block.text.rstrip())}</pre>")
    body.insert(1, f"<nav><ul>{links}</ul></nav>")  # after the title
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _html_pad(pad: Pad) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for label in ["run", "digit", *pad.labels])
    return (
        f'<div class="pad"><canvas id="pad-canvas" width="{PAD_SIDE}" height="{PAD_SIDE}"></canvas>\n'
        '<div><p><button id="pad-clear" type="button">Clear</button> What the models see, 28x28: '
        f'<canvas id="pad-seen" width="{PAD_SEEN}" height="{PAD_SEEN}"></canvas></p><p id="pad-status"></p>\n'
        f'<table id="pad-table"><thead><tr>{head}</tr></thead><tbody></tbody></table></div></div>\n'
        f'<script src="{html.escape(pad.weights)}"></script>\n'
        f"<script>\n{PAD_SCRIPT.read_text(encoding='utf-8')}</script>"
    )


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in table.header)
    rows = []
    for row in table.rows:
        cells = [
            f'<td class="number">{html.escape(cell)}</td>'
            if i and table.numeric
            else f"<td>{html.escape(cell)}</td>"
            for i, cell in enumerate(row)
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
