"""`python -m bankscore`: the same as the `bankscore` command."""

from .cli import main

main()
