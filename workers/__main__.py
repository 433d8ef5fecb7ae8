"""`python -m workers`: the same as `streamrelay worker`."""

from relay.cli import main

main(["worker"])
