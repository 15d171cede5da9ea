"""Dataset versions: publishing them, the local registry that keeps them, and the Hub.

A version is an immutable, checksummed folder in the Hugging Face Hub layout
(``exports/registry/NAME/VERSION/``: ``README.md``, ``data/*.parquet``, ``manifest.json``).

- :class:`Registry` (:mod:`~annotate.registry.api`): list, show, diff and pull versions; what
  the ``datasets`` commands call.
- :func:`publish` (:mod:`~annotate.registry.build`): build and write a version, reading the
  store once (:mod:`~annotate.registry.read`) and writing Parquet per split
  (:mod:`~annotate.registry.write`), with its card (:mod:`~annotate.registry.card`) and its
  changelog against the previous version (:mod:`~annotate.registry.changes`).
- :mod:`~annotate.registry.manifest`: what a version folder holds, read and verified.
- :mod:`~annotate.registry.local` and :mod:`~annotate.registry.staging`: version folders,
  staging folders, and keeping the store and the registry in agreement.
- :mod:`~annotate.registry.hub`: :func:`push_to_hub`, :func:`pull_from_hub`.

Version numbers are :class:`annotate.semver.SemVer`.
"""

from annotate.registry.api import (
    Listing,
    PulledVersion,
    Registry,
    VersionDetails,
    VersionDiff,
    VersionRef,
    VersionRow,
    VersionStatus,
)
from annotate.registry.build import PublishReport, publish
from annotate.registry.card import features, render_card, size_category
from annotate.registry.changes import LabelChanges, Relabelled, changelog, diff_labels
from annotate.registry.hub import pull_from_hub, push_to_hub
from annotate.registry.local import (
    Survey,
    VersionEntry,
    dataset_names,
    list_versions,
    pull_destination,
    pull_version,
    record_version,
    resolve,
    scan,
    survey,
    version_folder,
)
from annotate.registry.manifest import (
    MANIFEST,
    PER_POST,
    SPLITS,
    BrokenVersion,
    Damage,
    check,
    read_manifest,
    verify,
)

__all__ = [
    "MANIFEST",
    "PER_POST",
    "SPLITS",
    "BrokenVersion",
    "Damage",
    "LabelChanges",
    "Listing",
    "PublishReport",
    "PulledVersion",
    "Registry",
    "Relabelled",
    "Survey",
    "VersionDetails",
    "VersionDiff",
    "VersionEntry",
    "VersionRef",
    "VersionRow",
    "VersionStatus",
    "changelog",
    "check",
    "dataset_names",
    "diff_labels",
    "features",
    "list_versions",
    "publish",
    "pull_destination",
    "pull_from_hub",
    "pull_version",
    "push_to_hub",
    "read_manifest",
    "record_version",
    "render_card",
    "resolve",
    "scan",
    "size_category",
    "survey",
    "verify",
    "version_folder",
]
