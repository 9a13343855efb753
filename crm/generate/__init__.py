"""Demo data generator: a realistic, noisy CRM inbox with known ground truth.

``generate()`` writes every entity of data contract v1 into an inbox folder and
the truth behind it (persons, which record is whom, the injected bad rows and
the model parameters) into a truth folder, so entity resolution, the loader's
quarantine and the CLV models can be checked against what really happened.
"""

from .core import FILE_FORMATS, generate, plan_files
from .params import DEFAULT_HYPERPARAMETERS, DEFAULT_NOISE, NOISE_PROFILES, SYSTEMS

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_NOISE",
    "FILE_FORMATS",
    "NOISE_PROFILES",
    "SYSTEMS",
    "generate",
    "plan_files",
]
