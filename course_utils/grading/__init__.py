"""The instructor's side of the course: release a student version, grade submissions, show progress.

The `course` command (course_utils.cli) drives it; docs/grading.md is the manual.

Modules, each small:

* markers      solution / hidden-test regions in cell sources, the stubs that replace them
* release      the student version of a lesson, and the check that it runs to the end
* submissions  finding and reading the submissions (one notebook or one folder per student)
* sandbox      the kernel wrapper (memory and file-size caps, dies with its parent) and its kernelspec
* integrity    runs inside the grading kernel: fingerprints the checkers to notice tampering
* runner       runs a list of code steps in one isolated kernel, with timeouts and an output cap
* grade        builds the graded run of one submission and turns its outcome into scores
* batch        grades a folder of submissions in parallel, resumable
* report       gradebook.csv, grades.json and per-student feedback
* status       the learner's progress table

Importing this package is cheap: jupyter_client, nbformat and tqdm load where they are used.
"""
