from layerwise.cli.main import main

raise SystemExit(main())
