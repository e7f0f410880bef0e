"""The audit log, one job per module:

chain            record events in the keyed hash chain, bind the actor, verify the chain
keys             the HMAC keys, held outside the database
checkpoint_file  the keyed checkpoint lines kept outside the database (format, reading, appending)
checkpoint       write a checkpoint of the head once the chain up to it verifies
archive          move events past the retention period to verified files
search           the auditors' search, event page and exports

Every service audits through `from app.services import audit; audit.record(...)`: this face hands on the chain's
everyday names. Everything else is imported from its module.
"""
from app.services.audit.chain import (SYSTEM, Actor, current_actor, lock_chain, record, set_actor, unbind_actor,
                                      verify_chain, write_pending)

__all__ = ["SYSTEM", "Actor", "current_actor", "lock_chain", "record", "set_actor", "unbind_actor", "verify_chain",
           "write_pending"]
