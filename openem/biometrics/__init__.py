"""Face verification, 1:1 only: quality gate, embedding, templates, liveness, decision.

The check-in service calls :func:`openem.biometrics.verify.verify_checkin` (or the
process pool in :mod:`openem.biometrics.pool`); nothing here touches a database or HTTP.
"""
