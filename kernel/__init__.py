"""The shared kernel at the bottom of the dependency graph: the error base (errors), privacy masking
(privacy), log formatting (logs), loops that stop when cancelled (loops), owned background tasks (tasks),
the one Redis client factory (redis) and package-data files (resources).

Every package may import it; it imports none of the product's packages (tests/unit/test_import_layers.py)."""
