from dockyard.cli import main

raise SystemExit(main())
