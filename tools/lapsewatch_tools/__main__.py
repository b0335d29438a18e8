from lapsewatch_tools.cli import main

raise SystemExit(main())
