# The course grader with its bubblewrap sandbox, for machines without bubblewrap (macOS, Windows).
# Build from the repository root:  docker build -f docker/grader.Dockerfile -t course-grader .
# Run it as docs/grading.md ("Limits and isolation") shows.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/course
COPY pyproject.toml constraints.txt README.md ./
COPY course_utils ./course_utils
# The CPU build of torch is enough to grade (the references run in float64 on the CPU under a memory cap):
# pass your package index's CPU-only torch channel as TORCH_INDEX to keep the image small.
ARG TORCH_INDEX=""
RUN if [ -n "$TORCH_INDEX" ]; then pip install --no-cache-dir --index-url "$TORCH_INDEX" "torch==2.13.0"; fi \
    && pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["course", "grade"]
