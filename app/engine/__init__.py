"""BPMN engine layer: deploy definitions, run instances, keep SQL projections (ENGINE.md)."""
