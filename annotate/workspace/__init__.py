"""The loop from Python: one object per workspace, one method per step.

A :class:`Workspace` holds the settings, the store and the Label Studio connection, each opened
on first use (so that steps without Label Studio never need one, and opening a workspace
writes nothing). Every ``annotate`` command is one of its methods, with the same options; the
CLI only parses and renders.

Usage::

    from annotate import Workspace

    ws = Workspace.open("team/.annotate")          # or Workspace.init(...) the first time
    ws.ingest("posts.jsonl", source="weibo-2024-10")
    ws.create_project("round-1", annotators_per_task=3, overlap=0.2)
    ws.sample("round-1", 500, strategy="mixed", by=["platform"])
    ws.add_corpus("lake", "/lake/posts/")           # Parquet, sampled where it is
    ws.sample("round-1", 500, from_corpus="lake", engine="duckdb")
    ws.pull("round-1")
    ws.agreement("round-1").summary.krippendorff_alpha
    ws.publish("finmis", "1.0.0", projects=["round-1"])
    ws.datasets.list()
    ws.train("finmis@1.0.0")                       # exports/models/finmis-1.0.0-category
    ws.evaluate("exports/models/finmis-1.0.0-category", "finmis@1.0.0").macro.f1
"""

from __future__ import annotations

from annotate.workspace.base import InitReport, WorkspaceBase
from annotate.workspace.corpora import CorpusSteps
from annotate.workspace.datasets import DatasetSteps
from annotate.workspace.demo import DemoSteps
from annotate.workspace.labelling import LabellingSteps
from annotate.workspace.labels import LabelSteps
from annotate.workspace.model import ModelSteps
from annotate.workspace.model_loop import ModelLoopSteps

__all__ = ["InitReport", "Workspace", "WorkspaceBase"]


class Workspace(
    LabellingSteps, CorpusSteps, LabelSteps, DatasetSteps, ModelSteps, ModelLoopSteps, DemoSteps
):
    """A workspace: settings, the store and Label Studio, with one method per step of the loop.

    ``say`` hears what a person should know while a step runs (waiting for another command's
    project lock, an aggregate recomputed before publishing); it prints to stderr by default.
    """
