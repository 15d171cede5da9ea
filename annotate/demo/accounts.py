"""The demo's accounts: who posts, on which platform, under which name, with which reach.

Accounts are drawn once per seed into a fixed table (capped, so a million-post corpus reuses a
fixed set instead of growing memory); the kinds of account, their platforms and the parts of
their names come from the data file. Post urls have each platform's shape.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass

PLATFORMS: tuple[str, ...] = ("weibo", "wechat", "douyin", "kuaishou", "xueqiu", "toutiao")
_POST_ID_PREFIX = {
    "weibo": "wb",
    "wechat": "wx",
    "douyin": "dy",
    "kuaishou": "ks",
    "xueqiu": "xq",
    "toutiao": "tt",
}

# Accounts become active as the corpus grows (a few hundred for 5,000 posts).
MAX_ACCOUNTS = 4000
INITIAL_ACCOUNTS = 24
POSTS_PER_NEW_ACCOUNT = 16

# Share of accounts that post mostly in English, and how often each sort writes in English.
_ENGLISH_ACCOUNT_SHARE = 0.15
_ENGLISH_POST_SHARE = (0.03, 0.9)  # for a Chinese-speaking account, for an English-speaking one


@dataclass(frozen=True, slots=True)
class AccountKind:
    """A kind of account (rumour mill, analyst, ...): the kind sets what an account posts."""

    share: int  # weight among the kinds
    platforms: dict[str, int]  # platform -> weight
    names: tuple[tuple[str, ...], ...]  # zh prefixes, zh suffixes, en prefixes, en suffixes


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    kind: str
    platform: str
    english_share: float
    reach: float  # scales engagement: roughly likes on a typical post
    uid: str  # the platform's numeric user id
    url_prefix: str
    post_id_prefix: str


def build_accounts(seed: int, kinds: dict[str, AccountKind]) -> tuple[Account, ...]:
    rng = random.Random(f"{seed}:accounts")
    names = list(kinds)
    shares = [kind.share for kind in kinds.values()]
    # The first accounts cover every kind, so every category has an author from post one.
    first = names[:]
    rng.shuffle(first)
    chosen = first + rng.choices(names, weights=shares, k=MAX_ACCOUNTS - len(first))
    used_names: set[str] = set()
    accounts = []
    for index, kind in enumerate(chosen):
        english = rng.random() < _ENGLISH_ACCOUNT_SHARE
        zh_prefixes, zh_suffixes, en_prefixes, en_suffixes = kinds[kind].names
        if english:
            name = rng.choice(en_prefixes) + rng.choice(en_suffixes)
        elif kind == "ordinary" and rng.random() < 0.3:
            name = f"用户{rng.randrange(10**9, 10**10)}"  # weibo's default display name
        else:
            name = rng.choice(zh_prefixes) + rng.choice(zh_suffixes)
        while name in used_names:
            name = f"{name}{rng.randrange(2, 1000)}"
        used_names.add(name)
        platforms = kinds[kind].platforms
        platform = rng.choices(list(platforms), weights=list(platforms.values()))[0]
        uid = str(rng.randrange(10**9, 10**10))
        accounts.append(
            Account(
                account_id=f"{_POST_ID_PREFIX[platform]}-u{index:05d}",
                name=name,
                kind=kind,
                platform=platform,
                english_share=_ENGLISH_POST_SHARE[english],
                reach=0.002 * 10 ** rng.uniform(1.5, 6.5),  # 0.2% of a follower count
                uid=uid,
                url_prefix=_url_prefix(platform, uid),
                post_id_prefix=f"{_POST_ID_PREFIX[platform]}-",
            )
        )
    return tuple(accounts)


def _url_prefix(platform: str, uid: str) -> str:
    return {
        "weibo": f"https://weibo.com/{uid}/",
        "wechat": "https://mp.weixin.qq.com/s/",
        "douyin": "https://www.douyin.com/video/",
        "kuaishou": "https://www.kuaishou.com/short-video/",
        "xueqiu": f"https://xueqiu.com/{uid}/",
        "toutiao": "https://www.toutiao.com/article/",
    }[platform]


def post_url(account: Account, index: int, seed: int) -> str:
    # Multiplying by a constant that is odd and not a multiple of 5 permutes the numbers modulo
    # 2**64 and modulo powers of ten, so ids look random yet two posts never share a url.
    mixed = (index + 1) * _URL_MULTIPLIER + seed
    platform = account.platform
    if platform == "weibo":
        return f"{account.url_prefix}4{mixed % 10**15:015d}"
    if platform == "wechat":
        scrambled = _scramble(mixed)
        raw = scrambled.to_bytes(8, "big") + _scramble(scrambled).to_bytes(8, "big")
        return account.url_prefix + base64.urlsafe_b64encode(raw).decode()[:22]
    if platform == "kuaishou":
        return f"{account.url_prefix}3x{_scramble(mixed):016x}"
    if platform == "xueqiu":
        return f"{account.url_prefix}3{mixed % 10**8:08d}"
    if platform == "toutiao":
        return f"{account.url_prefix}7{mixed % 10**18:018d}/"
    return f"{account.url_prefix}7{mixed % 10**18:018d}"  # douyin


_MASK_64 = (1 << 64) - 1
_URL_MULTIPLIER = 11400714819323198483  # odd, ends in 3: coprime to 2**64 and to 10**k


def _scramble(number: int) -> int:
    """splitmix64's finaliser: a bijection on 64-bit numbers whose output looks random."""
    number &= _MASK_64
    number = ((number ^ (number >> 30)) * 0xBF58476D1CE4E5B9) & _MASK_64
    number = ((number ^ (number >> 27)) * 0x94D049BB133111EB) & _MASK_64
    return number ^ (number >> 31)
