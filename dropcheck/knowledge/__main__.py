from dropcheck.knowledge.generate import main

raise SystemExit(main())
