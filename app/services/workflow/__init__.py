"""The workflow adapter between the app and the engine: run (start, complete, timers), claims, the slice registry."""
from app.services.workflow.claims import (DECIDING_LANE, claim_task, may_work, reassign_task, release_task,
                                          separation_conflict)
from app.services.workflow.run import (claim_due_timer, complete_task, drafted, due_timer_ids, fire_locked_timer,
                                       fire_timer, last_values, start_process)

__all__ = ["DECIDING_LANE", "claim_due_timer", "claim_task", "complete_task", "drafted", "due_timer_ids",
           "fire_locked_timer", "fire_timer", "last_values", "may_work", "reassign_task", "release_task", "separation_conflict", "start_process"]
