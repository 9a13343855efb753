"""Identity resolution in Python: probabilistic matching (Splink), its training and evaluation.

- ``matching``: the Splink settings, blocking rules and ``predict_pairs`` (scores
  candidate pairs with a model folder);
- ``train``: unsupervised training on a warehouse's own contacts;
- ``model_store``: which model a build links with, and when it is (re)trained
  (the warehouse's own in ``$CRM_HOME/identity/model``; ``model/`` here is the
  shipped demo model);
- ``clusters``: connected components with guards;
- ``report``: the offline page of ``crm identity report``;
- ``evaluate``: pairwise precision / recall against the generator's ground truth.
"""
