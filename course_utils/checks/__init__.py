"""One module of checks per lesson: course_utils.checks.<lesson>.check_<exercise>(learner_code).

Each module imports torch at the top; importing course_utils itself does not.
"""
