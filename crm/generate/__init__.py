"""Demo data generator: a realistic, noisy CRM inbox with known ground truth.

``generate()`` writes every entity of data contract v1 into an inbox folder and
the truth behind it (persons, which record is whom, the injected bad rows and
the model parameters) into a truth folder, so entity resolution, the loader's
quarantine and the CLV models can be checked against what really happened.
"""

from importlib import import_module

# Imported on first use: `crm`'s argument parser reads crm.generate.dialects, and
# every command would otherwise pay for the generator's numpy and pandas.
_WHERE = {
    "FILE_FORMATS": ".core",
    "generate": ".core",
    "plan_files": ".core",
    "DEFAULT_HYPERPARAMETERS": ".params",
    "DEFAULT_NOISE": ".params",
    "NOISE_PROFILES": ".params",
    "SYSTEMS": ".params",
}

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_NOISE",
    "FILE_FORMATS",
    "NOISE_PROFILES",
    "SYSTEMS",
    "generate",
    "plan_files",
]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_WHERE[name], __name__), name)
