"""The generator: posts drawn from the compiled demo data, one at a time, deterministically.

Generation is streaming and prefix-stable: post *k* depends only on the seed and on posts
before it, never on ``size``. Memory stays flat however many posts are drawn (a fixed account
table and a small buffer of "viral" rumours are the only state).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotate.demo.accounts import (
    INITIAL_ACCOUNTS,
    POSTS_PER_NEW_ACCOUNT,
    build_accounts,
    post_url,
)
from annotate.demo.data import (
    CLAIM,
    LANGS,
    SHORT_POST,
    TIP,
    Category,
    Claim,
    DemoData,
    load_demo_data,
)
from annotate.demo.slots import ISO_DAYS, N_DAYS, Slots, SlotTables, pick
from annotate.taxonomy import Taxonomy

DEMO_SIZE = 5000
DEMO_SEED = 20240901
#: The source name the demo ingests its corpus under (``ingest --source demo``).
DEMO_SOURCE = "demo"

HIDDEN_FIELDS: tuple[str, ...] = ("true_labels", "true_severity")
"""Ground-truth fields: for simulated annotators and evaluation only, never for Label Studio
or a published dataset."""

POST_FIELDS: tuple[str, ...] = (
    "post_id",
    "platform",
    "account_id",
    "account_name",
    "created_at",
    "lang",
    "text",
    "url",
    "likes",
    "reposts",
    "comments",
    "true_labels",
    "true_severity",
)
"""Keys of every post, in the column order the writers use."""

# Corpus shape. All of these are independent of `size`, which is what keeps output prefix-stable.
_SECONDS_PER_DAY = 86_400
# Relative posting activity per hour of day (Beijing time): quiet at night, peaks at the
# morning commute, lunch, and late evening.
_HOURLY_ACTIVITY = (2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 6, 7, 6, 5, 5, 5, 5, 6, 7, 8, 9, 8, 5)
_HOUR_WHEEL: tuple[int, ...] = tuple(
    hour for hour, weight in enumerate(_HOURLY_ACTIVITY) for _ in range(weight)
)

# Viral rumours: a few recent rumours are kept and reposted with small edits.
_VIRAL_CAPACITY = 6
_P_BECOMES_VIRAL = 0.06
_P_REPOST_OF_VIRAL = 0.14  # for a spreadable category
_P_DEBUNK_OF_VIRAL = 0.05  # for a post of the debunking category

_LONG_FORM_PLATFORMS = frozenset({"wechat", "toutiao", "xueqiu"})
_P_LONG_FORM = 0.22
_P_REPOST_CHAIN = 0.12  # weibo posts written as "comment//@user:original"
_LONG_POST = 300  # characters; long-form articles are longer than this

# Engagement: likes follow a Pareto tail scaled by the account's reach and the category's pull.
_PARETO_EXPONENT = 1.0 / 1.3


def generate_posts(
    size: int,
    seed: int = DEMO_SEED,
    *,
    taxonomy: Taxonomy | None = None,
    templates: Path | str | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``size`` demo posts, lazily and deterministically.

    The same ``(size, seed)`` always gives the same posts, and output is prefix-stable: the
    first *k* posts are the same whatever ``size`` is. Memory stays flat, so a million posts
    can be streamed. Each post has the keys in :data:`POST_FIELDS`, including the hidden
    ground truth in :data:`HIDDEN_FIELDS`.

    The posts cover the category labels of ``taxonomy`` (default: the taxonomy every command
    uses) with the words of the data file ``templates`` (default: the packaged one); a label
    the file has no templates for raises :class:`~annotate.demo.DemoDataError` here, before
    any post is drawn.
    """
    if size < 0:
        raise ValueError(f"The corpus size must be zero or more, not {size}.")
    return _iter_posts(size, seed, load_demo_data(taxonomy, templates))


@dataclass(frozen=True, slots=True)
class _Viral:
    text: str
    labels: tuple[str, ...]
    severity: str | None
    lang: int
    author: str
    second: int  # seconds since the start of the window


def _iter_posts(size: int, seed: int, data: DemoData) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    rand = rng.random  # bound once: this loop runs a million times for the ingest benchmark
    accounts = build_accounts(seed, data.accounts)
    handles = tuple(account.name for account in accounts)
    # Per kind, the account positions in order, so "active accounts of this kind" is a prefix.
    members: dict[str, list[int]] = {kind: [] for kind in data.accounts}
    for position, account in enumerate(accounts):
        members[account.kind].append(position)
    plans = data.categories
    author_pools = {
        category: tuple(members[kind] for kind in wheel)
        for category, wheel in (
            *((label, plan.authors) for label, plan in plans.items()),
            (TIP, data.tip_authors),
        )
    }
    tables = data.slots
    claims, entities = data.claims, tables.entities
    truth = _world(seed, claims, entities)
    wheel = data.category_wheel
    hours = _HOUR_WHEEL
    find_active = bisect.bisect_left
    viral: list[_Viral] = []
    viral_slot = 0
    last_second = N_DAYS * _SECONDS_PER_DAY - 1

    for index in range(size):
        category = wheel[int(rand() * len(wheel))]
        claim: Claim | None = None
        claim_entity = 0
        if category == CLAIM:
            claim_index = int(rand() * len(claims))
            claim = claims[claim_index]
            claim_entity = int(rand() * len(entities[claim.entity]))
            category = data.claim_labels[truth[claim_index][claim_entity]]

        # The author: an active account of a kind that writes this category.
        active = INITIAL_ACCOUNTS + index // POSTS_PER_NEW_ACCOUNT
        pools = author_pools[category]
        pool = pools[int(rand() * len(pools))]
        account = accounts[pool[int(rand() * find_active(pool, active))]]
        platform = account.platform
        tip_by_guru: bool | None = None
        if category == TIP:
            tip_by_guru = account.kind == data.guru
            category = data.tip_labels[tip_by_guru]
        plan = plans[category]
        contextual = tip_by_guru is not None or claim is not None
        lang = 1 if rand() < account.english_share else 0
        day = int(rand() * N_DAYS)
        second = day * _SECONDS_PER_DAY + hours[int(rand() * len(hours))] * 3600
        second += int(rand() * 3600)

        text: str | None = None
        severity: str | None = None
        labels: tuple[str, ...] = ()
        if viral and not contextual:
            if plan.spreadable and rand() < _P_REPOST_OF_VIRAL:
                source = viral[int(rand() * len(viral))]
                text = _near_duplicate(source, data, rand)
                labels, severity, lang = source.labels, source.severity, source.lang
                second = source.second + 600 + int(rand() ** 2 * 3 * _SECONDS_PER_DAY)
                second = min(second, last_second)
            elif category == data.debunk_label and rand() < _P_DEBUNK_OF_VIRAL:
                source = viral[int(rand() * len(viral))]
                if any(plans[label].debunkable for label in source.labels):
                    # The hard case: a legitimate post that quotes a rumour in full to debunk it.
                    debunk = pick(data.debunk_comments[source.lang], rand)
                    text = f"{debunk}//@{source.author}:{source.text}"
                    labels, lang = (data.debunk_label,), source.lang
                    second = source.second + 3600 + int(rand() * 5 * _SECONDS_PER_DAY)
                    second = min(second, last_second)

        if text is None:
            slots = Slots(tables, rand, lang, day, handles)
            long_form = plan.long_forms[lang]
            if contextual:
                if claim is not None:
                    text = _claim_text(claim, claim_entity, data, slots, rand)
                else:
                    text = pick(data.tip_texts[lang], rand)[tip_by_guru].format_map(slots)
                labels = plan.labels
                severity = plan.severities[int(rand() * 20)]
            elif (
                long_form is not None and platform in _LONG_FORM_PLATFORMS and rand() < _P_LONG_FORM
            ):
                text = _long_form(long_form, lang, slots, rng)
                labels = plan.labels
                severity = plan.severities[int(rand() * 20)]
            else:
                templates = plan.templates[lang]
                template = templates[int(rand() * len(templates))]
                labels = template.labels
                severity = template.severities[int(rand() * 20)]
                text = template.text.format_map(slots)
            # Very short posts and articles stay bare: no hashtags, links or repost chains.
            if SHORT_POST <= len(text) < _LONG_POST:
                text = _decorate(text, plan, platform, slots, rand)
                if platform == "weibo" and rand() < _P_REPOST_CHAIN:
                    comments = plan.repost_comments[lang]
                    text = _repost_chain(text, comments, handles, rand)
                elif plan.spreadable and rand() < _P_BECOMES_VIRAL:
                    entry = _Viral(text, labels, severity, lang, account.name, second)
                    if len(viral) < _VIRAL_CAPACITY:
                        viral.append(entry)
                    else:
                        viral[viral_slot] = entry
                        viral_slot = (viral_slot + 1) % _VIRAL_CAPACITY

        # Heavy-tailed engagement: a Pareto draw scaled by reach and by how well the category
        # spreads (rumours and calls to action travel further than analysis).
        scale = account.reach * plan.pull
        likes = int(scale / (1.0 - rand()) ** _PARETO_EXPONENT - scale)
        yield {
            "post_id": f"{account.post_id_prefix}{index:07d}",
            "platform": platform,
            "account_id": account.account_id,
            "account_name": account.name,
            "created_at": _timestamp(second),
            "lang": LANGS[lang],
            "text": text,
            "url": post_url(account, index, seed),
            "likes": likes,
            "reposts": int(likes * rand() * 0.6),
            "comments": int(likes * rand() * 0.3),
            "true_labels": list(labels),
            "true_severity": severity,
        }


# ------------------------------------------------------------------------- claims and tips


def _world(
    seed: int, claims: tuple[Claim, ...], entities: dict[str, tuple[Any, ...]]
) -> tuple[tuple[bool, ...], ...]:
    """Which claims are true of which entities in this corpus: truth[claim][entity]."""
    rng = random.Random(f"{seed}:world")
    return tuple(
        tuple(rng.random() < claim.prior_true for _ in entities[claim.entity]) for claim in claims
    )


def _claim_text(
    claim: Claim, entity: int, data: DemoData, slots: Slots, rand: Callable[[], float]
) -> str:
    tables: SlotTables = data.slots
    subject = tables.entities[claim.entity][entity]
    if claim.entity == "company":
        tables.set_company(slots, subject)
    else:
        slots[claim.entity] = subject[slots.lang]
    opener = pick(data.claim_openers[slots.lang], rand)
    return opener + claim.texts[slots.lang].format_map(slots)


# ------------------------------------------------------------ the quirks of real posts


def _near_duplicate(viral: _Viral, data: DemoData, rand: Callable[[], float]) -> str:
    """A repost of a viral rumour with the small edits people make when passing it on."""
    roll = rand()
    if roll < 0.2:
        return viral.text  # an exact copy under a new post id
    if roll < 0.55:
        comments = data.viral_comments[viral.lang]
        return f"{pick(comments, rand)}//@{viral.author}:{viral.text}"
    if roll < 0.8:
        edited = (
            viral.text.replace("！", "!!!").replace("，", ",") if viral.lang == 0 else viral.text
        )
        return pick(data.alarm_emoji, rand) + edited + pick(data.alarm_emoji, rand)
    return viral.text + pick(data.repost_suffixes[viral.lang], rand)


def _hashtags(words: tuple[str, ...], slots: Slots, rand: Callable[[], float]) -> tuple[str, str]:
    """Two different hashtag words for a post."""
    first = int(rand() * len(words))
    second = (first + 1 + int(rand() * (len(words) - 1))) % len(words)
    return words[first].format_map(slots), words[second].format_map(slots)


def _decorate(
    text: str, plan: Category, platform: str, slots: Slots, rand: Callable[[], float]
) -> str:
    """Add the hashtags, mentions, links and emoji a post on this platform typically carries."""
    hashtags = plan.hashtags
    if slots.lang == 1:
        if rand() < 0.35:
            first, second = _hashtags(hashtags[1], slots, rand)
            text += f" #{first} #{second}"
    elif platform in ("weibo", "toutiao"):
        if rand() < 0.5:
            first, second = _hashtags(hashtags[0], slots, rand)
            text = f"#{first}# {text}#{second}#" if rand() < 0.3 else f"#{first}# {text}"
    elif platform in ("douyin", "kuaishou"):
        if rand() < 0.6:
            first, second = _hashtags(hashtags[0], slots, rand)
            text += f" #{first} #{second}"
    elif platform == "xueqiu" and plan.cashtag and rand() < 0.5:
        text = f"{slots['cashtag']} {text}"
    if rand() < (0.25 if platform == "xueqiu" else 0.12):
        text += f" {slots['mention']}"
    if rand() < (0.22 if platform in ("weibo", "toutiao") else 0.06):
        text += f" {slots['link']}"
    if rand() < (0.1 if platform == "wechat" else 0.3):
        text += pick(plan.emoji, rand)
    return text


def _repost_chain(
    text: str, comments: tuple[str, ...], handles: tuple[str, ...], rand: Callable[[], float]
) -> str:
    """Weibo's repost format: newest comment first, each hop as //@name:comment."""
    chain = f"{pick(comments, rand)}//@{pick(handles, rand)}:"
    if rand() < 0.35:
        chain += f"{pick(comments, rand)}//@{pick(handles, rand)}:"
    return chain + text


def _long_form(
    form: tuple[tuple[str, ...], tuple[str, ...]],
    lang: int,
    slots: Slots,
    rng: random.Random,
) -> str:
    titles, paragraphs = form
    title = titles[int(rng.random() * len(titles))].format_map(slots)
    count = min(len(paragraphs), 5 + int(rng.random() * 3))
    # Keep the paragraphs in their written order so the article still reads as an argument.
    chosen = sorted(rng.sample(range(len(paragraphs)), count))
    body = [paragraphs[position].format_map(slots) for position in chosen]
    heading = f"【{title}】" if lang == 0 else title
    return "\n\n".join([heading, *body])


# Timestamps are assembled from lookup tables: day + "HH:MM" + ":SS+08:00".
_DAY_PREFIXES = tuple(f"{day}T" for day in ISO_DAYS)
_MINUTES_OF_DAY = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440))
_SECOND_SUFFIXES = tuple(f":{second:02d}+08:00" for second in range(60))


def _timestamp(second: int) -> str:
    day, rest = divmod(second, _SECONDS_PER_DAY)
    minute, sec = divmod(rest, 60)
    return _DAY_PREFIXES[day] + _MINUTES_OF_DAY[minute] + _SECOND_SUFFIXES[sec]
