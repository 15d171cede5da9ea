"""Leakage-free splits: stratified by label, grouped by account and near-duplicate, stable.

Usage::

    near = near_duplicate_groups([post["text"] for post in posts])
    groups = group_ids([post["account_id"] for post in posts], near)
    assignment = assign_splits(ids, labels, groups, seed=7, previous=last_version_splits)
    report = split_report(assignment, labels, groups, previous=last_version_splits)
    report["leakage"]["groups_shared"]   # 0: no group has posts in two splits

Groups
------
Two posts belong to one *group* when they are posted by the same account or are
near-duplicates (:func:`near_duplicate_groups`), and groups are closed under both
(:func:`group_ids`): an account that reposts another account's rumour pulls both accounts into
one group. A whole group goes to one split, so no account and no near-duplicate of a post is
shared between splits. Reposts chain accounts together fast: on the demo corpus (3,000 posts,
201 accounts) the closure is one group of 2,992 posts, and even exact duplicates alone with
accounts make one of 2,336. Leakage stays zero, but the fractions cannot be met.

:func:`leak_free_splits` (what publishing uses) meets them by *cutting* such a group: a
group larger than the smallest split is placed account by account, each of its near-duplicate
groups then goes to the split holding most of its posts, and the posts whose account went
elsewhere are withheld from the version. No account and no near-duplicate group is shared
among the posts kept. On the demo corpus, a dense web in which every template family spans a
hundred accounts, that withholds about 14 % of the posts and the small splits come out at
about half their share (validation and test 4-6 % each for 10 %); on sparser repost graphs
it costs far less (500 labelled demo posts: 9 % withheld, 80/10/10 met; the publishing
benchmark's million posts: 8.5 % withheld, 80/11/9).

Near-duplicates are the ones batch sampling avoids, found by the same code
(:mod:`annotate.neardup`): same :func:`annotate.text.text_hash`, or shingle similarity
(:func:`annotate.neardup.similarity`) at or above a threshold. The grouping
(:func:`annotate.neardup.near_duplicate_groups`) is exact, not an approximation such as
MinHash: every pair of posts at or above the threshold ends up in one group (and, through
chains, posts linked by such pairs).

Assignment
----------
:func:`assign_splits` puts each group in ``train``, ``validation`` or ``test``:

1. *Stability.* With ``previous`` (the assignment of the last dataset version), a group with an
   item that was in test goes to test, whole: test items stay in test, and a group that
   merged with a test group (a new post by a test account, a new repost of a test post)
   joins it, so test can grow beyond its fraction (:func:`split_report` shows the sizes and
   the items that moved). Any other group with items seen before keeps the split most of
   them were in (ties: train before validation), so earlier train and validation items keep
   their split unless their group merged with one of another split.
2. *Stratification* of the new groups: iterative stratification (Sechidis, Tsoumakas and
   Vlahavas 2011, "On the stratification of multi-label data", ECML PKDD) at the level of
   groups, which handles multi-label items. Each split wants ``fraction × items`` items
   in all and ``fraction × items with the label`` of each label, less what the pinned groups
   already hold. Labels are taken rarest first (fewest items among the groups still
   unplaced); the unplaced groups with that label go, largest first, each to the split that
   wants the most of that label (ties: the one that wants the most items, then train,
   validation, test). Groups without labels go last, by items wanted. A group's items count
   towards every label they carry.
3. *Determinism.* Order among groups of one size comes from a keyed hash: a group's key is the
   BLAKE2b hash, keyed by the seed, of its smallest item id (as text; one hash per group, not
   per item). It does not depend on the
   order of the input nor on how groups are numbered, and no global random state is used:
   the same items, labels, groups and seed always give the same assignment.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotate.neardup import near_duplicate_groups  # the one definition, shared with sampling

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLITS",
    "LeakFreeSplits",
    "assign_splits",
    "group_ids",
    "leak_free_splits",
    "near_duplicate_groups",
    "split_report",
]

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)

_TEST = 2
_MAX_SEED = 2**64 - 1
_FRACTION_TOLERANCE = 1e-9
# Shared groups listed by id in a report: enough to look at, not the whole corpus.
_SHOWN = 10


# ------------------------------------------------------------------------------------ groups


def group_ids(accounts: Sequence[str | None], near_dup_groups: Sequence[Hashable]) -> list[int]:
    """A group id per post, ``0, 1, ...`` in order of each group's first post: posts of one
    account, and posts of one near-duplicate group, are in one group, and so is everything
    linked through either. A post without an account (``None`` or ``""``) is a group of its
    own unless it has near-duplicates.

    Reposts link accounts into chains: on the demo corpus the closure is one group holding
    nearly every post (see ``split_report``'s fractions before trusting a split).

    >>> group_ids(["a", "b", None, "c", "a", None], [0, 1, 1, 2, 3, 4])
    [0, 1, 1, 2, 0, 3]
    """
    if len(accounts) != len(near_dup_groups):
        raise ValueError(
            f"There are {len(accounts)} accounts but {len(near_dup_groups)} near-duplicate "
            "group ids; give one of each per post."
        )
    if not accounts:
        return []
    return _components(_codes(near_dup_groups), _account_codes(accounts)).tolist()


def _components(near_codes: Any, account_codes: Any) -> Any:
    """:func:`group_ids` on numbered near-duplicate groups and accounts (numpy arrays), as a
    numpy array: connected components of the graph whose nodes are the posts, the accounts
    and the near-duplicate groups, with an edge from each post to its account and to its
    group (in C: a million posts in well under a second)."""
    import numpy as np
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    size = len(near_codes)
    posts = np.arange(size)
    near_count = int(near_codes.max()) + 1
    # Nodes: posts 0..size-1, then the near-duplicate groups, then the accounts.
    sources = np.concatenate([posts, posts])
    targets = np.concatenate([near_codes + size, account_codes + size + near_count])
    total = size + near_count + int(account_codes.max()) + 1
    graph = coo_array(
        (np.ones(len(targets), dtype=np.int8), (sources, targets)), shape=(total, total)
    )
    _, components = connected_components(graph, directed=False)
    # Number the groups 0, 1, ... in order of their first post.
    _, first, inverse = np.unique(components[:size], return_index=True, return_inverse=True)
    number = np.empty(len(first), dtype=np.int64)
    number[np.argsort(first)] = np.arange(len(first))
    return number[inverse]


# ------------------------------------------------------------------------------- assignment


def assign_splits(
    item_ids: Sequence[Hashable],
    labels: Sequence[str | Collection[str] | None],
    groups: Sequence[Hashable],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    previous: Mapping[Hashable, str] | None = None,
) -> dict[Hashable, str]:
    """The split (``train``, ``validation`` or ``test``) of every item, in the order of
    ``item_ids``; whole groups go to one split. See the module docstring for the method.

    ``labels`` holds, per item, one label, a collection of labels (multi-label) or None;
    ``groups`` a group id per item (:func:`group_ids`); ``fractions`` the shares of train,
    validation and test (each at least 0, adding up to 1); ``previous`` the splits of the
    last version (items not in ``item_ids`` are ignored).

    >>> assign_splits(["a", "b", "c", "d"], ["x", "x", "y", "y"], [0, 0, 1, 2],
    ...               fractions=(0.5, 0.0, 0.5))
    {'a': 'train', 'b': 'train', 'c': 'train', 'd': 'test'}
    """
    fractions = _check_input(item_ids, labels, groups, fractions, seed, previous)
    previous = previous or {}

    codes = _assign_codes(item_ids, labels, _codes(groups), fractions, seed, previous)
    return dict(zip(item_ids, [SPLITS[code] for code in codes.tolist()], strict=True))


def _assign_codes(item_ids, labels, group_codes, fractions, seed, previous):
    """:func:`assign_splits` on checked input, with groups numbered ``0, 1, ...`` in order of
    their first item (a numpy array): the split number of every item, as a numpy array.

    Groups and their label counts are gathered with numpy (a million items in about a
    second); the placement itself walks the groups as the module docstring says.
    """
    import numpy as np

    key = seed.to_bytes(8, "little")
    total = len(item_ids)
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(group_codes, kind="stable")
    ordered = group_codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], total]
    sizes = ends - starts
    # Items per label and group: a 0/1 matrix over the distinct label sets.
    label_sets = [_label_set(value) for value in labels]
    set_codes = _codes(label_sets)
    distinct = list(dict.fromkeys(label_sets))
    names = sorted(set().union(*distinct))  # in name order: ties go to the first name
    column = {name: number for number, name in enumerate(names)}
    hot = np.zeros((len(distinct), len(names)), dtype=np.int64)
    for row, values in enumerate(distinct):
        hot[row, [column[name] for name in values]] = 1
    counts = np.add.reduceat(hot[set_codes[order]], starts, axis=0) if names else None
    label_totals = counts.sum(axis=0) if names else np.zeros(0)
    ids_in_order = [item_ids[position] for position in order.tolist()]
    blocks = list(zip(starts.tolist(), ends.tolist(), strict=True))
    ranks = [_item_rank(min(map(str, ids_in_order[a:b])), key) for a, b in blocks]

    wanted = [fraction * total for fraction in fractions]
    wanted_label = np.outer(np.asarray(fractions, dtype=float), label_totals)
    placed: list[int | None] = [None] * len(blocks)

    def place(number: int, split: int) -> None:
        placed[number] = split
        wanted[split] -= int(sizes[number])
        if names:
            wanted_label[split] -= counts[number]

    if previous:
        for number, (a, b) in enumerate(blocks):
            split = _previous_split(ids_in_order[a:b], previous)
            if split is not None:
                place(number, split)

    open_splits = [split for split, fraction in enumerate(fractions) if fraction > 0]
    # Largest first, as in greedy bin packing; among equal sizes the seeded key decides.
    by_size = sorted(range(len(blocks)), key=lambda n: (-sizes[n], ranks[n]))
    has_label = counts > 0 if names else None
    while names:
        unplaced = np.asarray([number for number in by_size if placed[number] is None], dtype=int)
        remaining = counts[unplaced].sum(axis=0) if len(unplaced) else np.zeros(len(names))
        if not remaining.any():
            break
        present = np.flatnonzero(remaining)
        rarest = int(present[np.argmin(remaining[present])])  # fewest, then first by name
        for number in unplaced.tolist():
            if has_label[number, rarest]:
                split = max(
                    open_splits,
                    key=lambda s: (wanted_label[s, rarest], wanted[s], -s),
                )
                place(number, split)
    for number in by_size:
        if placed[number] is None:
            place(number, max(open_splits, key=lambda s: (wanted[s], -s)))

    result = np.empty(total, dtype=np.int64)
    result[order] = np.repeat(np.asarray(placed, dtype=np.int64), sizes)
    return result


@dataclass
class LeakFreeSplits:
    """What :func:`leak_free_splits` decided: the split of every kept item, the items held
    back because their account and their near-duplicate group went to different splits, and
    how many groups had to be cut."""

    assignment: dict[Hashable, str]
    withheld: list[Hashable] = field(default_factory=list)
    cut_groups: int = 0
    cut_items: int = 0
    #: The split number (0 train, 1 validation, 2 test; -1 withheld) of every item, in the
    #: order they were given, as a numpy array.
    codes: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "withheld": len(self.withheld),
            "cut_groups": self.cut_groups,
            "cut_items": self.cut_items,
        }


def leak_free_splits(
    item_ids: Sequence[Hashable],
    labels: Sequence[str | Collection[str] | None],
    accounts: Sequence[str | None],
    near_dup_groups: Sequence[Hashable],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    previous: Mapping[Hashable, str] | None = None,
) -> LeakFreeSplits:
    """Splits in which no account and no near-duplicate group is shared, that still meet the
    fractions when reposts chain most posts into one group (see the module docstring).

    A group (:func:`group_ids`) no larger than the smallest split's share of the items goes
    to one split whole, as in :func:`assign_splits`. A larger one is *cut*: its accounts are
    placed as groups of their own (stratified and seeded like the rest), then each of its
    near-duplicate groups goes to the split holding most of its posts (test if it has an item
    that was in test before, else the split most of its earlier items were in), and a post
    whose account went elsewhere is withheld: it is in no split, so neither its account nor
    its near-duplicates straddle two. Earlier test items are never withheld: their accounts
    and their near-duplicate groups both go to test.

    >>> result = leak_free_splits(
    ...     ["a1", "a2", "b1", "b2", "c1"], ["x", "y", "x", "y", "x"],
    ...     ["A", "A", "B", "B", "C"], [0, 1, 1, 2, 3], fractions=(0.6, 0.0, 0.4))
    >>> result.assignment, result.withheld
    ({'a1': 'train', 'b1': 'test', 'b2': 'test', 'c1': 'train'}, ['a2'])
    """
    if not len(item_ids) == len(accounts) == len(near_dup_groups):
        raise ValueError(
            f"There are {len(item_ids)} items, {len(accounts)} accounts and "
            f"{len(near_dup_groups)} near-duplicate group ids; give one of each per item."
        )
    fractions = _check_input(item_ids, labels, accounts, fractions, seed, previous)
    import numpy as np

    previous = previous or {}
    total = len(item_ids)
    if total == 0:
        return LeakFreeSplits({}, codes=np.zeros(0, dtype=np.int64))
    account_codes = _account_codes(accounts)
    near_codes = _codes(near_dup_groups)
    groups = _components(near_codes, account_codes)
    sizes = np.bincount(groups)
    limit = min(fraction for fraction in fractions if fraction > 0) * total
    # Only a group of two or more accounts can be cut (along its accounts).
    lowest = np.full(len(sizes), np.iinfo(np.int64).max)
    highest = np.full(len(sizes), -1)
    np.minimum.at(lowest, groups, account_codes)
    np.maximum.at(highest, groups, account_codes)
    is_cut = (sizes > limit) & (lowest != highest)
    # Blocks: whole groups, and the accounts of the cut ones.
    in_cut = is_cut[groups]
    blocks = np.where(in_cut, len(sizes) + account_codes, groups)
    placed_codes = _assign_codes(
        item_ids, labels, np.unique(blocks, return_inverse=True)[1], fractions, seed, previous
    )
    if not is_cut.any():
        return LeakFreeSplits(
            dict(zip(item_ids, [SPLITS[c] for c in placed_codes.tolist()], strict=True)),
            codes=placed_codes,
        )
    split_code = {split: number for number, split in enumerate(SPLITS)}
    cut_positions = np.flatnonzero(in_cut)
    near_cut, split_cut = near_codes[cut_positions], placed_codes[cut_positions]
    # Votes per near-duplicate group and split; most posts win, ties go to the later split
    # (test before validation before train), which holds fewer items and so loses fewer.
    votes = np.zeros((near_codes.max() + 1, len(SPLITS)), dtype=np.int64)
    np.add.at(votes, (near_cut, split_cut), 1)
    target = len(SPLITS) - 1 - np.argmax(votes[:, ::-1], axis=1)
    # Earlier versions pin a group: to test if it had a test item, else where most were.
    earlier = [
        (number, split_code[previous[item_ids[position]]])
        for number, position in enumerate(cut_positions.tolist())
        if item_ids[position] in previous
    ]
    if earlier:
        numbers, codes = (np.asarray(column) for column in zip(*earlier, strict=True))
        pinned = np.zeros_like(votes)
        np.add.at(pinned, (near_cut[numbers], codes), 1)
        seen = pinned.sum(axis=1) > 0
        by_majority = np.argmax(pinned, axis=1)  # ties: train first
        target = np.where(seen, np.where(pinned[:, -1] > 0, len(SPLITS) - 1, by_majority), target)
    withheld_positions = cut_positions[target[near_cut] != split_cut]
    keep = np.ones(total, dtype=bool)
    keep[withheld_positions] = False
    kept = {
        item: SPLITS[code]
        for item, code, kept_item in zip(
            item_ids, placed_codes.tolist(), keep.tolist(), strict=True
        )
        if kept_item
    }
    codes = placed_codes.copy()
    codes[withheld_positions] = -1
    return LeakFreeSplits(
        kept,
        withheld=[item_ids[position] for position in withheld_positions.tolist()],
        cut_groups=int(is_cut.sum()),
        cut_items=int(sizes[is_cut].sum()),
        codes=codes,
    )


def _account_codes(accounts: Sequence[str | None]) -> Any:
    """:func:`_codes` of the accounts; a post without one (None or "") is an account of its
    own, linked to nothing else by it."""
    return _codes([account or ("no account", post) for post, account in enumerate(accounts)])


def _codes(values: Sequence[Hashable]) -> Any:
    """``0, 1, ...`` per distinct value, in order of first appearance, as a numpy array."""
    import numpy as np

    numbers: dict[Hashable, int] = {}
    return np.fromiter(
        (numbers.setdefault(value, len(numbers)) for value in values), np.int64, len(values)
    )


def _item_rank(item: Hashable, key: bytes) -> bytes:
    return hashlib.blake2b(str(item).encode(), key=key, digest_size=8).digest()


def _label_set(value: str | Collection[str] | None) -> frozenset[str]:
    if type(value) is frozenset:
        return value
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset((value,))
    return frozenset(value)


def _previous_split(item_ids: Iterable[Hashable], previous: Mapping[Hashable, str]) -> int | None:
    """The split a group is pinned to by the last version: test if any item was in test,
    else the split most of its earlier items were in (ties: train first); None if new."""
    counts = Counter(SPLITS.index(previous[item]) for item in item_ids if item in previous)
    if not counts:
        return None
    if _TEST in counts:
        return _TEST
    return min(counts, key=lambda split: (-counts[split], split))


def _check_input(item_ids, labels, groups, fractions, seed, previous) -> tuple:
    """Raise ValueError on input :func:`assign_splits` cannot use; the checked fractions."""
    fractions = _check_fractions(fractions)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"The seed must be a whole number from 0 to 2**64 - 1, not {seed!r}.")
    if not len(item_ids) == len(labels) == len(groups):
        raise ValueError(
            f"There are {len(item_ids)} items, {len(labels)} labels and {len(groups)} group "
            "ids; give one label (or set of labels) and one group id per item."
        )
    if len(set(item_ids)) != len(item_ids):
        repeated = next(item for item, count in Counter(item_ids).items() if count > 1)
        raise ValueError(f"Item {repeated!r} appears more than once; item ids must be unique.")
    unknown = {split for split in (previous or {}).values() if split not in SPLITS}
    if unknown:
        raise ValueError(
            f"Unknown split {sorted(map(str, unknown))[0]!r} in the previous assignment; "
            f"splits are {', '.join(SPLITS)}."
        )
    return fractions


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(fractions)
    if len(values) != len(SPLITS):
        raise ValueError(
            f"Give {len(SPLITS)} fractions (train, validation, test), not {len(values)}: "
            f"{values!r}."
        )
    for split, value in zip(SPLITS, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"The {split} fraction must be a number, not {value!r}.")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"The {split} fraction must be at least 0, not {value!r}.")
    if abs(sum(values) - 1) > _FRACTION_TOLERANCE:
        raise ValueError(
            f"The fractions must add up to 1, but {' + '.join(map(str, values))} = {sum(values):g}."
        )
    return values  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ report


def split_report(
    assignment: Mapping[Hashable, str],
    labels: Sequence[str | Collection[str] | None] | Mapping[Hashable, Any],
    groups: Sequence[Hashable] | Mapping[Hashable, Hashable],
    *,
    previous: Mapping[Hashable, str] | None = None,
) -> dict[str, Any]:
    """Sizes, label counts and leakage of an assignment, as JSON-ready values.

    ``labels`` and ``groups`` are sequences in the order of ``assignment`` (the order of
    the ``item_ids`` given to :func:`assign_splits`) or mappings from item id. Keys:

    * ``items``, ``groups``, ``labels`` (items per label, all splits);
    * ``splits``: per split ``items``, ``fraction``, ``groups`` and ``labels``;
    * ``max_label_share_gap``: the largest difference, over splits and labels, between a
      label's share of a split's items and its share of all items (0 is perfect
      stratification);
    * ``leakage``: ``groups_shared`` (groups with items in more than one split: must be 0)
      and ``shared_group_ids`` (the first few);
    * with ``previous``: ``stability``: ``previous_test_items`` (of those still present),
      ``left_test`` (must be 0), ``moved`` (``"train->test"``: count) and ``new_items``.

    >>> report = split_report({"a": "train", "b": "test"}, ["x", "y"], [0, 1])
    >>> report["splits"]["test"], report["leakage"]
    ({'items': 1, 'fraction': 0.5, 'groups': 1, 'labels': {'y': 1}}, {'groups_shared': 0, \
'shared_group_ids': []})
    """
    items = list(assignment)
    item_labels = [_label_set(value) for value in _aligned(labels, items, "labels")]
    item_groups = _aligned(groups, items, "group ids")
    total = len(items)
    overall: Counter[str] = Counter()
    per_split = {split: {"items": 0, "groups": set(), "labels": Counter()} for split in SPLITS}
    splits_of_group: dict[Hashable, set[str]] = {}
    for item, values, group in zip(items, item_labels, item_groups, strict=True):
        split = assignment[item]
        if split not in per_split:
            raise ValueError(f"Item {item!r} is in unknown split {split!r}.")
        entry = per_split[split]
        entry["items"] += 1
        entry["groups"].add(group)
        entry["labels"].update(values)
        overall.update(values)
        splits_of_group.setdefault(group, set()).add(split)
    shared = [group for group, where in splits_of_group.items() if len(where) > 1]
    gap = 0.0
    for entry in per_split.values():
        if entry["items"]:
            for label, count in overall.items():
                share = entry["labels"][label] / entry["items"]
                gap = max(gap, abs(share - count / total))
    report: dict[str, Any] = {
        "items": total,
        "groups": len(splits_of_group),
        "labels": dict(sorted(overall.items())),
        "splits": {
            split: {
                "items": entry["items"],
                "fraction": entry["items"] / total if total else 0.0,
                "groups": len(entry["groups"]),
                "labels": dict(sorted(entry["labels"].items())),
            }
            for split, entry in per_split.items()
        },
        "max_label_share_gap": gap,
        "leakage": {"groups_shared": len(shared), "shared_group_ids": shared[:_SHOWN]},
    }
    if previous is not None:
        moved: Counter[str] = Counter()
        for item in items:
            before = previous.get(item)
            if before is not None and before != assignment[item]:
                moved[f"{before}->{assignment[item]}"] += 1
        earlier_test = [item for item in items if previous.get(item) == "test"]
        report["stability"] = {
            "previous_test_items": len(earlier_test),
            "left_test": sum(assignment[item] != "test" for item in earlier_test),
            "moved": dict(sorted(moved.items())),
            "new_items": sum(item not in previous for item in items),
        }
    return report


def _aligned(values: Sequence[Any] | Mapping[Hashable, Any], items: list[Hashable], what: str):
    if isinstance(values, Mapping):
        missing = [item for item in items if item not in values]
        if missing:
            raise ValueError(f"Item {missing[0]!r} has no {what}.")
        return [values[item] for item in items]
    if len(values) != len(items):
        raise ValueError(
            f"There are {len(items)} assigned items but {len(values)} {what}; give them in the "
            "order of the assignment, or as a mapping from item id."
        )
    return list(values)
