"""The demo's words and weights: the data file, checked against a taxonomy and compiled.

Everything a demo post is made of lives in ``templates.yaml`` next to this module (or a copy a
team edits): templates per category label and language, articles, hashtags, claims, tips,
account kinds and names, and the vocabulary that fills the slots. :func:`load_demo_data` reads
it, checks it against the taxonomy's category labels and severities, and compiles it into
:class:`DemoData` for the generator and the simulated annotators.

The taxonomy decides which labels a corpus covers. A category label the file has no templates
(or no share, or no severity weights) for is an error that names the label, and so is a label
in the file that the taxonomy does not define: adding a label to ``taxonomy.yaml`` cannot
silently leave the demo behind.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from annotate.demo.accounts import PLATFORMS, AccountKind
from annotate.demo.slots import Pair, SlotTables
from annotate.errors import InputError
from annotate.taxonomy import Taxonomy, default_taxonomy_path, load_taxonomy

TEMPLATES_FILE = Path(__file__).with_name("templates.yaml")
"""The packaged data file."""

CATEGORY_FIELD = "category"
SEVERITY_FIELD = "severity"
CONFIDENCE_FIELD = "confidence"
LANGS = ("zh", "en")
_JOINERS = {"zh": "", "en": " "}
# Two kinds of post that are not a category of their own: they take a category's label by
# what is true in the corpus's world (a claim) or by who writes them (a tip).
CLAIM, TIP = "claim", "tip"
SHORT_POST = 16  # characters; shorter posts stay bare (no hashtags, links or repost chains)
_WHEEL = 20  # severity weights are out of this many draws

_SLOT_PATTERN = re.compile(r"\{\w+\}")


class DemoDataError(InputError):
    """The demo's data file cannot be used with this taxonomy (the message says why)."""


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    labels: tuple[str, ...]
    severities: tuple[str | None, ...]  # a wheel of 20 draws; all None for non-violations


@dataclass(frozen=True, slots=True)
class Category:
    """Everything the generator needs to write a post of one category label."""

    labels: tuple[str, ...]  # (label,): what articles, claims and tips carry
    severities: tuple[str | None, ...]  # the category's own wheel of 20 draws
    templates: tuple[tuple[Template, ...], tuple[Template, ...]]  # by language
    long_forms: tuple[tuple[tuple[str, ...], tuple[str, ...]] | None, ...]  # by language
    hashtags: Pair
    emoji: tuple[str, ...]
    repost_comments: Pair
    authors: tuple[str, ...]  # a wheel of account kinds
    spreadable: bool
    debunkable: bool
    cashtag: bool  # on xueqiu, a post may open with its stock's $cashtag$
    pull: float


@dataclass(frozen=True, slots=True)
class Claim:
    """A statement about one entity; whether it is true is decided per corpus."""

    entity: str  # "company", "bank" or "developer": the slot the claim is about
    texts: tuple[str, str]  # Chinese, English
    prior_true: float  # chance the claim is true of a given entity


@dataclass(frozen=True)
class DemoData:
    """A data file compiled for one taxonomy."""

    source: str
    taxonomy: str  # the taxonomy's ref
    labels: tuple[str, ...]  # the taxonomy's category labels, in its order
    violations: tuple[str, ...]  # the labels that need a severity
    severities: tuple[str, ...]
    categories: dict[str, Category]
    category_wheel: tuple[str, ...]  # labels, CLAIM and TIP, each as often as its share
    claims: tuple[Claim, ...]
    claim_openers: Pair
    claim_labels: tuple[str, str]  # for a false claim, for a true one
    tip_texts: tuple[tuple[tuple[str, str], ...], ...]  # by language: (analyst's, guru's)
    tip_labels: tuple[str, str]  # for an ordinary author's tip, for a guru's
    tip_authors: tuple[str, ...]
    guru: str  # the kind of account whose tips are illegal
    debunk_label: str
    debunk_comments: Pair
    alarm_emoji: tuple[str, ...]  # for reposts of viral rumours
    viral_comments: Pair
    repost_suffixes: Pair
    accounts: dict[str, AccountKind]
    slots: SlotTables
    # For the simulated annotators (annotate.simulation):
    exclusive: frozenset[str]  # labels never chosen with another
    confidences: tuple[str, ...]  # the taxonomy's confidence levels, lowest first
    confusions: dict[str, tuple[str, ...]]  # label -> the labels it is mistaken for
    no_truth: tuple[str, ...]  # the answer for a post without hidden truth


def load_demo_data(
    taxonomy: Taxonomy | None = None, templates: Path | str | None = None
) -> DemoData:
    """The demo data in ``templates`` (default :data:`TEMPLATES_FILE`) for ``taxonomy``.

    ``taxonomy`` defaults to the one every command uses (``label_config/taxonomy.yaml`` here,
    else the packaged one). Raises :class:`DemoDataError` when the file does not cover the
    taxonomy's category labels or names a label, severity or account kind that does not
    exist. Compiled data are kept per taxonomy and file version, so repeated calls are cheap.
    """
    taxonomy = taxonomy if taxonomy is not None else _default_taxonomy()
    path = Path(templates) if templates is not None else TEMPLATES_FILE
    try:
        stat = os.stat(path)
    except OSError:
        raise DemoDataError(f"The demo data file {path} does not exist.") from None
    key = (taxonomy.content_hash, os.path.abspath(path), stat.st_mtime_ns, stat.st_size)
    data = _COMPILED.get(key)
    if data is None:
        if len(_COMPILED) >= 16:
            _COMPILED.clear()
        data = _COMPILED[key] = _Compiler(taxonomy, str(path)).compile(_read(path))
    return data


_COMPILED: dict[tuple[str, str, int, int], DemoData] = {}
_DEFAULT_TAXONOMY: dict[tuple[str, int, int], Taxonomy] = {}


def _default_taxonomy() -> Taxonomy:
    """:func:`load_taxonomy`'s default, read again only when the file changes."""
    path = default_taxonomy_path()
    try:
        stat = os.stat(path)
    except OSError:
        return load_taxonomy(path)  # says what is wrong
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size)
    if key not in _DEFAULT_TAXONOMY:
        _DEFAULT_TAXONOMY.clear()
        _DEFAULT_TAXONOMY[key] = load_taxonomy(path)
    return _DEFAULT_TAXONOMY[key]


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except UnicodeDecodeError:
        raise DemoDataError(f"The demo data file {path} is not UTF-8 text.") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise DemoDataError(
            f"{where}: not valid YAML ({getattr(error, 'problem', None) or error})."
        ) from None
    if not isinstance(document, dict):
        raise DemoDataError(f"{path}: expected a mapping with shares, categories and slots.")
    return document


def block_entries(block: str, joiner: str) -> list[str]:
    """Split a block into entries: one per line, indented lines continue the previous entry."""
    entries: list[str] = []
    for line in textwrap.dedent(block).splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and entries:
            entries[-1] += joiner + line.strip()
        else:
            entries.append(line.strip())
    return entries


def _wheel(weights: dict[str, int]) -> tuple[str, ...]:
    return tuple(name for name, weight in weights.items() for _ in range(weight))


def _by_lang(values: dict[str, Iterable[str]]) -> Pair:
    return tuple(values["zh"]), tuple(values["en"])


class _Compiler:
    """Checks a data file against a taxonomy while compiling it; errors name file and label."""

    def __init__(self, taxonomy: Taxonomy, source: str) -> None:
        self.source = source
        self.ref = taxonomy.ref
        names = {item.name for item in taxonomy.fields}
        if CATEGORY_FIELD not in names:
            raise self.error(f"taxonomy {self.ref} has no {CATEGORY_FIELD!r} field")
        category = taxonomy.field(CATEGORY_FIELD)
        self.labels = category.label_ids
        self.exclusive = frozenset(label.id for label in category.labels if label.exclusive)
        confidence = taxonomy.field(CONFIDENCE_FIELD) if CONFIDENCE_FIELD in names else None
        self.confidences = confidence.label_ids if confidence is not None else ()
        severity = taxonomy.field(SEVERITY_FIELD) if SEVERITY_FIELD in names else None
        self.severities = severity.label_ids if severity is not None else ()
        rule = severity.required_when if severity is not None else None
        self.violations = (
            tuple(label for label in rule.any_of)
            if rule is not None and rule.field == CATEGORY_FIELD
            else ()
        )

    def error(self, message: str, hint: str | None = None) -> DemoDataError:
        return DemoDataError(f"{self.source}: {message}.", hint)

    def need(self, mapping: Any, key: str, where: str) -> Any:
        if not isinstance(mapping, dict) or key not in mapping:
            raise self.error(f"{where} has no {key!r}")
        return mapping[key]

    def label(self, label: Any, where: str) -> str:
        if label not in self.labels:
            raise self.error(
                f"{where} names label {label!r}, which taxonomy {self.ref} does not define"
            )
        return label

    def weights(self, weights: Any, where: str) -> tuple[int, ...]:
        """Severity weights in the taxonomy's order, checked to add up to the wheel."""
        if not isinstance(weights, dict) or set(weights) != set(self.severities):
            raise self.error(f"{where} must give a weight to each of {list(self.severities)}")
        ordered = tuple(weights[level] for level in self.severities)
        if sum(ordered) != _WHEEL:
            raise self.error(f"{where} must add up to {_WHEEL}, not {sum(ordered)}")
        return ordered

    def check_slots(self, texts: Iterable[str], where: str) -> None:
        for text in texts:
            unknown = self.tables.unknown(text)
            if unknown:
                raise self.error(f"{where} uses unknown slot {{{sorted(unknown)[0]}}}: {text}")

    def compile(self, document: dict[str, Any]) -> DemoData:
        try:
            return self._compile(document)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            # What the checks below do not name: a missing key or a value of the wrong shape.
            problem = f"the file is incomplete or malformed ({type(error).__name__}: {error})"
            raise self.error(problem) from None

    def _compile(self, document: dict[str, Any]) -> DemoData:
        self.tables = SlotTables(document)
        self.accounts = self.account_kinds(self.need(document, "accounts", "the file"))
        self.hints = {
            hint: self.weights(weights, f"severity_hints.{hint}")
            for hint, weights in (document.get("severity_hints") or {}).items()
        }
        shares = self.need(document, "shares", "the file")
        entries = self.need(document, "categories", "the file")
        for label in self.labels:
            if label not in entries:
                raise self.error(
                    f"no templates for category label {label!r} of taxonomy {self.ref}",
                    "Add an entry for it under `categories` (templates, hashtags, authors, ...)"
                    " and a share under `shares`.",
                )
            if label not in shares:
                raise self.error(f"category label {label!r} has no share under `shares`")
        for label in entries:
            self.label(label, "`categories`")
        for name in shares:
            if name not in (CLAIM, TIP):
                self.label(name, "`shares`")
        self.severity_weights = {
            label: self.severity_of(label, entries[label]) for label in self.labels
        }
        tones = self.need(document, "tones", "the file")
        emoji = self.need(tones, "emoji", "`tones`")
        comments = self.need(tones, "repost_comments", "`tones`")
        categories = {
            label: self.category(label, entries[label], emoji, comments) for label in self.labels
        }
        claims = self.need(document, "claims", "the file")
        tips = self.need(document, "tips", "the file")
        debunks = self.need(document, "debunks", "the file")
        guru = self.need(tips, "guru", "`tips`")
        if guru not in self.accounts:
            raise self.error(f"`tips.guru` names unknown account kind {guru!r}")
        statements = tuple(self.claim(statement) for statement in claims["statements"])
        simulation = self.need(document, "simulation", "the file")
        no_truth = self.need(simulation, "no_truth", "`simulation`")
        tip_texts = tuple(
            tuple((tip["analyst"], tip["guru"]) for tip in tips["texts"][lang]) for lang in LANGS
        )
        self.check_slots((text for lang in tip_texts for tip in lang for text in tip), "a tip")
        return DemoData(
            source=self.source,
            taxonomy=self.ref,
            labels=self.labels,
            violations=self.violations,
            severities=self.severities,
            categories=categories,
            category_wheel=_wheel(shares),
            claims=statements,
            claim_openers=_by_lang(claims["openers"]),
            claim_labels=(
                self.label(claims["when_false"], "`claims.when_false`"),
                self.label(claims["when_true"], "`claims.when_true`"),
            ),
            tip_texts=tip_texts,
            tip_labels=(
                self.label(tips["otherwise"], "`tips.otherwise`"),
                self.label(tips["by_guru"], "`tips.by_guru`"),
            ),
            tip_authors=self.authors(tips["authors"], "`tips.authors`"),
            guru=guru,
            debunk_label=self.label(debunks["label"], "`debunks.label`"),
            debunk_comments=_by_lang(debunks["comments"]),
            alarm_emoji=tuple(self.need(emoji, "alarm", "`tones.emoji`")),
            viral_comments=_by_lang(self.need(comments, "violation", "`tones.repost_comments`")),
            repost_suffixes=_by_lang(self.need(tones, "repost_suffixes", "`tones`")),
            accounts=self.accounts,
            slots=self.tables,
            exclusive=self.exclusive,
            confidences=self.confidences,
            confusions={label: self.confusions(label, entries[label]) for label in self.labels},
            no_truth=tuple(self.label(label, "`simulation.no_truth`") for label in no_truth),
        )

    def account_kinds(self, kinds: dict[str, Any]) -> dict[str, AccountKind]:
        result = {}
        for kind, entry in kinds.items():
            platforms = dict(self.need(entry, "platforms", f"account kind {kind!r}"))
            unknown = sorted(set(platforms) - set(PLATFORMS))
            if unknown:
                raise self.error(f"account kind {kind!r} posts on unknown platform {unknown[0]!r}")
            names = self.need(entry, "names", f"account kind {kind!r}")
            parts = ("zh_prefixes", "zh_suffixes", "en_prefixes", "en_suffixes")
            result[kind] = AccountKind(
                share=self.need(entry, "share", f"account kind {kind!r}"),
                platforms=platforms,
                names=tuple(tuple(self.need(names, part, f"{kind}.names")) for part in parts),
            )
        return result

    def authors(self, weights: Any, where: str) -> tuple[str, ...]:
        if not isinstance(weights, dict) or not weights:
            raise self.error(f"{where} must map kinds of account to weights")
        for kind in weights:
            if kind not in self.accounts:
                raise self.error(f"{where} names unknown account kind {kind!r}")
        return _wheel(weights)

    def confusions(self, label: str, entry: dict[str, Any]) -> tuple[str, ...]:
        where = f"category {label!r}: confused_with"
        confused = self.need(entry, "confused_with", f"category {label!r}")
        if not isinstance(confused, list) or not confused:
            raise self.error(f"{where} must list the labels annotators mistake it for")
        return tuple(self.label(other, where) for other in confused)

    def severity_of(self, label: str, entry: Any) -> tuple[int, ...] | None:
        where = f"category {label!r}"
        if label in self.violations:
            return self.weights(self.need(entry, "severity", where), f"{where}: severity")
        if isinstance(entry, dict) and "severity" in entry:
            raise self.error(f"{where} has severity weights but no severity in {self.ref}")
        return None

    def category(
        self, label: str, entry: dict[str, Any], emoji: dict[str, Any], comments: dict[str, Any]
    ) -> Category:
        where = f"category {label!r}"
        templates = self.need(entry, "templates", where)
        hashtags = self.need(entry, "hashtags", where)
        for lang in LANGS:
            self.need(templates, lang, f"{where}: templates")
            self.need(hashtags, lang, f"{where}: hashtags")
        self.check_slots((text for lang in LANGS for text in hashtags[lang]), f"{where}: hashtag")
        long_forms = entry.get("long_form") or {}
        forms = []
        for lang in LANGS:
            form = long_forms.get(lang)
            if form is None:
                forms.append(None)
                continue
            titles = tuple(block_entries(self.need(form, "titles", where), _JOINERS[lang]))
            paragraphs = tuple(block_entries(self.need(form, "paragraphs", where), _JOINERS[lang]))
            self.check_slots((*titles, *paragraphs), f"{where}: article")
            forms.append((titles, paragraphs))
        emoji_tone = self.need(entry, "emoji_tone", where)
        repost_tone = self.need(entry, "repost_tone", where)
        if emoji_tone not in emoji:
            raise self.error(f"{where} has unknown emoji_tone {emoji_tone!r}")
        if repost_tone not in comments:
            raise self.error(f"{where} has unknown repost_tone {repost_tone!r}")
        return Category(
            labels=(label,),
            severities=self.severity_wheel((label,), None),
            templates=(
                self.templates(label, templates["zh"], "zh"),
                self.templates(label, templates["en"], "en"),
            ),
            long_forms=tuple(forms),
            hashtags=_by_lang(hashtags),
            emoji=tuple(emoji[emoji_tone]),
            repost_comments=_by_lang(comments[repost_tone]),
            authors=self.authors(self.need(entry, "authors", where), f"{where}: authors"),
            spreadable=bool(entry.get("spreadable", False)),
            debunkable=bool(entry.get("debunkable", False)),
            cashtag=bool(entry.get("cashtag", False)),
            pull=float(self.need(entry, "pull", where)),
        )

    def templates(self, category: str, block: str, lang: str) -> tuple[Template, ...]:
        """A block of templates; tags <+label,...> add labels, <!level> biases severity."""
        where = f"a {lang} template of {category!r}"
        templates = []
        for entry in block_entries(block, _JOINERS[lang]):
            labels, hint, text = [category], None, entry
            while text.startswith("<"):
                tag, _, text = text[1:].partition(">")
                text = text.lstrip()
                if tag.startswith("+"):
                    labels.extend(self.label(extra, where) for extra in tag[1:].split(","))
                elif tag.startswith("!") and tag[1:] in self.hints:
                    hint = tag[1:]
                else:
                    raise self.error(f"{where} has an unknown tag <{tag}>: {entry}")
            self.check_slots([text], where)
            template = Template(
                text=text, labels=tuple(labels), severities=self.severity_wheel(labels, hint)
            )
            # Templates without slots come out identical every time; listing them once (and
            # the rest three times) keeps exact repeats and very short posts at a few percent.
            has_slots = _SLOT_PATTERN.search(text) is not None
            rough_length = len(_SLOT_PATTERN.sub("xxxx", text))
            templates.extend([template] * (3 if has_slots and rough_length >= SHORT_POST else 1))
        return tuple(templates)

    def severity_wheel(self, labels: Iterable[str], hint: str | None) -> tuple[str | None, ...]:
        weighted = [self.severity_weights[label] for label in labels if label in self.violations]
        if not weighted:
            return (None,) * _WHEEL
        if hint is not None:
            weights = self.hints[hint]
        else:
            # A two-label post is as severe as its more severe label tends to be.
            weights = max(weighted, key=lambda w: sum(rank * n for rank, n in enumerate(w)))
        return tuple(
            level
            for level, weight in zip(self.severities, weights, strict=True)
            for _ in range(weight)
        )

    def claim(self, statement: dict[str, Any]) -> Claim:
        entity = self.need(statement, "about", "a claim")
        if entity not in self.tables.entities:
            raise self.error(
                f"a claim is about {entity!r}; use one of {list(self.tables.entities)}"
            )
        texts = (self.need(statement, "zh", "a claim"), self.need(statement, "en", "a claim"))
        self.check_slots(texts, "a claim")
        return Claim(entity, texts, float(self.need(statement, "prior_true", "a claim")))
