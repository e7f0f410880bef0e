"""The areas of `scripts/bench.py`: one module per figure group, each with `run(bench: Bench) -> list[Figure]`.

An area builds the data it needs in its own database (`bench.database(name)`: a SQLite file under var/bench/ or a
PostgreSQL database `bench_<name>`), times what the issue names, and returns its figures. Nothing here asserts a
timing: the figures are printed with their target and their floor (the same work without the product around it,
e.g. the raw SQL or WeasyPrint's layout alone), so a reader sees how far the product is from the floor.
"""
