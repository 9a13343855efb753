"""Identity resolution in Python: probabilistic matching (Splink), its training and evaluation.

- ``matching``: the Splink settings and ``predict_pairs`` (scores candidate pairs
  with the trained model in ``model/``);
- ``train``: unsupervised training, ``python -m crm.identity.train``;
- ``evaluate``: pairwise precision / recall against the generator's ground truth.
"""
