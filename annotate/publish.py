"""Publishing moved to :mod:`annotate.registry.build`; ``from annotate.publish import
publish`` keeps working for code written against the old layout."""

from annotate.registry.build import PublishReport, publish

__all__ = ["PublishReport", "publish"]
