"""Demo data, outside the services: the demo world (seed) and generated cases for load tests (bulk); CLI and tests only."""
