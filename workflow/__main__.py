"""`python -m workflow` is the `rectify` command."""

from workflow.cli import main

main()
