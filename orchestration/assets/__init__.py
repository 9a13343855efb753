"""The assets of a refresh: raw load, dbt build, quality gate, publication."""
