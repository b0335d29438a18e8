"""`python -m lapsewatch`: the command line. It is one of the tools (lapsewatch_tools), which the
dev venv installs and the Lambda layer does not; this is the one place the runtime names them."""

from lapsewatch_tools.cli import main

raise SystemExit(main())
