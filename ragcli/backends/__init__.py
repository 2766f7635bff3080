"""Heavy libraries, each behind a small Protocol and imported lazily."""
