"""The Label Studio labelling config (XML) a taxonomy renders to, and the guidelines as HTML."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from annotate.taxonomy.model import TEXT_NAME, Bilingual, Field, Taxonomy

#: The task data fields the rendered config shows (the post text, then its metadata).
TASK_DATA_FIELDS = ("text", "platform", "created_at", "account")


def render_label_config(taxonomy: Taxonomy, *, adjudication: bool = False) -> str:
    """The Label Studio labelling config (XML) for ``taxonomy``.

    ``adjudication`` adds the annotators' labels (task field ``annotator_labels``) above
    the post, for an expert deciding between them.

    Every label's ``value`` is its id (what results and exports contain); what annotators see
    is the bilingual name in the ``html`` attribute (HTML-escaped, then XML-escaped by the
    serializer) and the definition as a hover hint. Post metadata (platform, time, account)
    is shown above the text; evidence labels come first so that spans can be marked in the
    text below them.
    """
    view = ET.Element("View")
    ET.SubElement(view, "Style").text = _STYLE
    ET.SubElement(
        view,
        "Header",
        value=f"{taxonomy.title.display()} · {taxonomy.name} {taxonomy.version}",
        size="5",
    )
    meta = ET.SubElement(view, "View", className="annotate-meta")
    for name in TASK_DATA_FIELDS[1:]:
        ET.SubElement(meta, "Header", value=f"${name}", size="6", underline="false")
    if adjudication:
        # The expert sees every annotator's answer (pseudonymised) above the post.
        ET.SubElement(view, "Header", value="标注员意见 / Annotators' labels", size="5")
        ET.SubElement(view, "Text", name="annotator_labels", value="$annotator_labels")
    for item in taxonomy.fields:
        if item.kind == "spans":
            _spans(view, item)
    ET.SubElement(view, "Text", name=TEXT_NAME, value=f"${TEXT_NAME}", granularity="symbol")
    for item in taxonomy.fields:
        if item.kind == "spans":
            continue
        box = ET.SubElement(view, "View", className=f"annotate-field annotate-{item.name}")
        condition = item.required_when
        if condition is not None:
            # Shown only when it applies; the rule itself is checked on every pulled annotation.
            box.attrib.update(
                visibleWhen="choice-selected",
                whenTagName=condition.field,
                whenChoiceValue=",".join(condition.any_of),
            )
        ET.SubElement(box, "Header", value=item.title.display(), size="5")
        if item.kind == "text":
            ET.SubElement(
                box,
                "TextArea",
                name=item.name,
                toName=TEXT_NAME,
                rows="2",
                maxSubmissions="1",
                editable="true",
                placeholder=item.title.display(),
            )
            continue
        attributes = {"name": item.name, "toName": TEXT_NAME}
        if item.kind == "flag":
            attributes["choice"] = "multiple"
        else:
            attributes["choice"] = "multiple" if item.multiple else "single-radio"
            attributes["showInline"] = "false" if item.multiple else "true"
        if item.required:
            attributes["required"] = "true"
        choices = ET.SubElement(box, "Choices", attributes)
        if item.kind == "flag":
            _option(choices, "Choice", item.name, item.title, item.definition, item.hotkey)
        for label in item.labels:
            _option(
                choices,
                "Choice",
                label.id,
                Bilingual(zh=label.zh, en=label.en),
                label.definition,
                label.hotkey,
            )
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode")


def _spans(parent: ET.Element, item: Field) -> None:
    ET.SubElement(parent, "Header", value=item.title.display(), size="5")
    labels = ET.SubElement(parent, "Labels", name=item.name, toName=TEXT_NAME)
    for label, colour in zip(item.labels, _SPAN_COLOURS * 4, strict=False):
        element = _option(
            labels,
            "Label",
            label.id,
            Bilingual(zh=label.zh, en=label.en),
            label.definition,
            label.hotkey,
        )
        element.set("background", colour)


def _option(
    parent: ET.Element,
    tag: str,
    value: str,
    name: Bilingual,
    definition: Bilingual | None,
    hotkey: str | None,
) -> ET.Element:
    attributes = {
        "value": value,
        "html": f"<b>{html.escape(name.zh)}</b> <span>{html.escape(name.en)}</span>",
    }
    if definition is not None:
        attributes["hint"] = f"{definition.zh}\n{definition.en}"
    if hotkey is not None:
        attributes["hotkey"] = hotkey
    return ET.SubElement(parent, tag, attributes)


_SPAN_COLOURS = ["#ffb3ba", "#bae1ff", "#ffdfba", "#baffc9", "#e0bbff"]
_STYLE = """
.annotate-meta { display: flex; gap: 1.5em; color: #555; }
.annotate-field { margin-top: 0.8em; }
""".strip()


def guidelines_html(markdown_text: str) -> str:
    """The guidelines as HTML for the project's instructions (raw HTML in them is escaped)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
