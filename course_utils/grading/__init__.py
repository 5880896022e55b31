"""The instructor's side of the course: release a student version, grade submissions, show progress.

The `course` command (course_utils.cli) drives it; docs/grading.md is the manual.

Modules, each small:

* markers      solution / hidden-test regions in cell sources, the stubs that replace them
* release      the student version of a lesson, and the check that it runs to the end
* submissions  finding and reading the submissions (one notebook or one folder per student)
* sandbox      the kernel wrapper (memory and file-size caps, dies with its parent) for status and release
* runner       runs a notebook's cells in one capped Jupyter kernel (course status, release --check)
* vet          the rules a student's solution cell must follow before it runs
* checkcalls   an instructor's check cell read as data (which checks, on which learner names)
* isolation    the bubblewrap sandbox, rlimits and the process cap around each graded submission
* worker       runs inside the sandbox: a submission's cells, and the grader's learner calls
* session      the grader's end of one worker: start, send cells and calls, kill
* grade        the graded run of one submission; its checks run here, in the grader, and score it
* seal         HMAC seals on result records, so a resume trusts only what this grader wrote
* batch        grades a folder of submissions in parallel grader processes, resumable
* report       gradebook.csv, grades.json and per-student feedback
* status       the learner's progress table

Importing this package is cheap: jupyter_client, nbformat and tqdm load where they are used.
"""
