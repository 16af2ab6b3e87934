#!/bin/sh
# Entry point of the job: POSIX sh only (hardened images have no bash). It may orchestrate any
# other file of the job; here it runs job.py with the Python of the environment.
set -eu
echo "job started in $(pwd)"
python3 job.py
echo "job finished"
