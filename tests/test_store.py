"""The store on SQLite and PostgreSQL: migrations, constraints, in-place upgrades."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from annotate.errors import ConfigError
from annotate.store import (
    Annotation,
    Annotator,
    Batch,
    Post,
    Project,
    Task,
    create_store_engine,
    migrate,
    open_store,
    schema_head,
)

TABLES = {
    "posts",
    "taxonomies",
    "projects",
    "batches",
    "tasks",
    "annotators",
    "annotations",
    "adjudications",
    "dataset_versions",
    "ingest_runs",
    "corpora",
    "corpus_posts",
    "alembic_version",
}


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    yield store
    store.dispose()


def test_open_store_creates_every_table(store):
    assert set(inspect(store.engine).get_table_names()) >= TABLES


def test_migrations_match_the_models(store):
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_migrate_is_idempotent_and_records_the_head(store):
    assert migrate(store.engine) is False
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == schema_head()


def test_old_database_upgrades_in_place(database_url):
    engine = create_store_engine(database_url)
    with engine.begin() as connection:
        # A workspace made before the store had any migration applied: an empty schema.
        connection.execute(text("CREATE TABLE unrelated (x INTEGER)"))
        connection.execute(text("INSERT INTO unrelated VALUES (42)"))
    engine.dispose()
    store = open_store(database_url)
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT x FROM unrelated")).scalar() == 42
    store.dispose()


def test_unknown_newer_revision_is_a_clear_error(store, database_url):
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(ConfigError, match="does not know"):
        open_store(database_url)


def test_post_source_and_id_are_unique(store):
    with store.session() as session:
        session.add(Post(source="s", post_id="1", text="a", text_hash="h", lang="zh"))
        session.commit()
        session.add(Post(source="s", post_id="1", text="b", text_hash="h", lang="zh"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Post(source="t", post_id="1", text="b", text_hash="h", lang="zh"))
        session.commit()
        assert len(session.exec(select(Post)).all()) == 2


def test_foreign_keys_are_enforced(store):
    with store.session() as session:
        session.add(Task(project_id=999, post_pk=999))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_post_is_one_task_per_project_and_annotations_link_up(store):
    with store.transaction() as session:
        post = Post(source="s", post_id="1", text="央行降准", text_hash="h", lang="zh")
        project = Project(name="round-1", ls_project_id=7)
        session.add_all([post, project])
        session.flush()
        batch = Batch(project_id=project.id, strategy="random", seed=1, size=1)
        annotator = Annotator(ls_user_id=3, email="a@example.com", pseudonym="ann-1")
        session.add_all([batch, annotator])
        session.flush()
        task = Task(project_id=project.id, post_pk=post.id, batch_id=batch.id, ls_task_id=11)
        session.add(task)
        session.flush()
        session.add(
            Annotation(
                ls_annotation_id=100,
                task_id=task.id,
                annotator_id=annotator.id,
                labels={"category": ["policy_distortion"]},
                result=[{"type": "choices"}],
            )
        )
        project_id, post_pk = project.id, post.id
    with store.session() as session:
        stored = session.exec(select(Annotation)).one()
        assert stored.labels == {"category": ["policy_distortion"]}
        session.add(Task(project_id=project_id, post_pk=post_pk))
        with pytest.raises(IntegrityError):
            session.commit()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.dispose()


def test_bad_database_urls_are_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not usable"):
        open_store("nosuchdb://x")
    with pytest.raises(
        ConfigError, match=r"Cannot open the database postgresql\+psycopg://u:\*\*\*@"
    ):
        open_store("postgresql+psycopg://u:secretpw@127.0.0.1:1/db?connect_timeout=2")


def test_workspace_at_an_earlier_revision_upgrades_in_place_keeping_its_data(database_url):
    from alembic import command

    from annotate.store import alembic_config

    engine = create_store_engine(database_url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO posts (source, post_id, text, text_hash, lang, ingested_at) "
                "VALUES ('s', '1', '央行降准', 'h', 'zh', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    store = open_store(database_url)
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == schema_head()
    assert {"gold_items", "pull_runs"} <= set(inspect(store.engine).get_table_names())
    with store.session() as session:
        assert session.exec(select(Post)).one().text == "央行降准"
    store.dispose()
