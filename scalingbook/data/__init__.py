"""Data sources we generate ourselves (no downloads), deterministic by seed.

- ``teacher_student``: Gaussian inputs labelled by a random teacher network (and a linear
  control), with known best-guess and irreducible errors.
"""

from scalingbook.data.teacher_student import LinearTeacherTask, TeacherStudentTask

__all__ = ["LinearTeacherTask", "TeacherStudentTask"]
