"""annotate: labelled datasets of financial misinformation, built around Label Studio."""

__version__ = "0.1.0"
