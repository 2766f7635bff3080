"""One module per verb: each use case takes options, does the work, returns a record."""
