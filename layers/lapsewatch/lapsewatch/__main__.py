from lapsewatch.cli import main

raise SystemExit(main())
