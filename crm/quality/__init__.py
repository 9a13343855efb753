"""The quality gate: Great Expectations suites run on a build before it is published."""
