"""Customer lifetime value models (buy-till-you-die).

- ``btyd``: maximum-likelihood BG/NBD (Fader, Hardie & Lee 2005) for purchase
  counts and the Gamma-Gamma model for average spend, in numpy/scipy.
"""
