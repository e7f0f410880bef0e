"""Operations, one job per module (docs/deployment.md).

checks     `flask check`: configuration, file store, fonts, database, audit keys and checkpoints, demo passwords
health     the /healthz report and the write probe
grants     `flask grant-app`: the app's PostgreSQL login, the audit log append-only
bootstrap  first set-up of an empty database, new units
backup     `flask backup create`: dump, file store tar, hash manifest, pruning
drill      `flask backup drill`: restore into scratch space and verify every hash
"""
