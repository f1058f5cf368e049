"""Allow ``python -m obsgen``."""

from obsgen.cli import main

main()
