"""A stand-in for a trained model, for tests of what the loop does with a model's scores."""

from __future__ import annotations

import hashlib

import numpy as np

from annotate.taxonomy import load_taxonomy

LABELS = list(load_taxonomy().field("category").label_ids)


class HashModel:
    """A stand-in for a trained model whose probabilities are a fixed function of the text:
    these tests check what sampling does with scores, not how good a model is."""

    field = "category"
    labels = LABELS
    thresholds = dict.fromkeys(LABELS, 0.5)
    model_version = "hash@test-1.0.0"

    def predict_proba(self, texts):
        rows = []
        for text in texts:
            digest = hashlib.blake2b(text.encode(), digest_size=len(LABELS)).digest()
            rows.append([byte / 255 for byte in digest])
        return np.array(rows)

    def predict(self, texts):
        return self.decide(self.predict_proba(texts))

    def decide(self, probabilities):
        return [
            [label for label, p in zip(LABELS, row, strict=True) if p >= 0.5] or [LABELS[0]]
            for row in probabilities
        ]
