"""Data sources we generate ourselves (no downloads), deterministic by seed.

- ``teacher_student``: Gaussian inputs labelled by a random teacher network (and a linear
  control), with known best-guess and irreducible errors.
- ``planted``: training runs drawn from a planted scaling law (final losses, isoFLOP sweeps,
  intermediate checkpoints with an early transient), for studying how fits behave.
- ``markov``: token streams from a random k-th order Markov chain with Zipf-like rows, whose
  entropy rate (the irreducible loss of a language model) is computed exactly.
- ``synthetic_tasks``: Gu & Dao's selective-copying and induction-heads tasks (tokens, targets
  and the mask of scored positions).
"""

from scalingbook.data.markov import MarkovSource
from scalingbook.data.planted import isoflop_runs, planted_runs, planted_training_curves
from scalingbook.data.synthetic_tasks import (
    IGNORE_INDEX,
    InductionHeads,
    SelectiveCopying,
    TaskBatch,
    induction_heads,
    selective_copying,
)
from scalingbook.data.teacher_student import LinearTeacherTask, TeacherStudentTask

__all__ = ["IGNORE_INDEX", "InductionHeads", "LinearTeacherTask", "MarkovSource",
           "SelectiveCopying", "TaskBatch", "induction_heads", "selective_copying", "TeacherStudentTask", "isoflop_runs", "planted_runs", "planted_training_curves"]
