"""Counts of the posts in the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from annotate.store import Post, Store


def post_stats(store: Store) -> dict[str, Any]:
    """Counts of stored posts overall and by source, platform, language and month."""
    from sqlalchemy import func

    table = Post.__table__
    if store.dialect == "postgresql":
        month = func.to_char(func.timezone("UTC", table.c.created_at), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", table.c.created_at)
    with store.engine.connect() as connection:

        def grouped(column) -> dict[str, int]:
            query = select(column, func.count()).group_by(column).order_by(column)
            return {
                str(key) if key is not None else "(unknown)": count
                for key, count in connection.execute(query)
            }

        groups = (
            select(func.count().label("n"))
            .select_from(table)
            .group_by(table.c.text_hash)
            .having(func.count() > 1)
        ).subquery()
        duplicate_groups, duplicate_posts = connection.execute(
            select(func.count(), func.coalesce(func.sum(groups.c.n), 0))
        ).one()
        first, last = connection.execute(
            select(func.min(table.c.created_at), func.max(table.c.created_at))
        ).one()
        return {
            "posts": connection.scalar(select(func.count()).select_from(table)),
            "accounts": connection.scalar(select(func.count(table.c.account_id.distinct()))),
            "duplicate_text_groups": duplicate_groups,
            "posts_in_duplicate_text_groups": int(duplicate_posts),
            "first_post_at": first.isoformat() if first else None,
            "last_post_at": last.isoformat() if last else None,
            "by_source": grouped(table.c.source),
            "by_platform": grouped(table.c.platform),
            "by_lang": grouped(table.c.lang),
            "by_month": grouped(month),
        }
