"""The course's own vectorised layers, for later lessons to build on without copying code.

Each module holds the reference version of what an earlier lesson has learners write:
`dense` (lesson 05), `optim` (lesson 04), `conv` (lesson 06), `pool` (lesson 07), `recurrent`
(lesson 09), and the helpers lesson 10 builds its GAN from (`gan`).
A later lesson imports them (`from course_utils.layers import conv2d_forward`); an exercise that
asks for the same layer from scratch cannot call them: its check treats `course_utils.layers` like
torch (see `exercise(..., uses=...)` in course_utils/checking.py).
"""
