"""The warehouse on Apache Spark (CRM_ENGINE=spark, DECISIONS 79)."""
