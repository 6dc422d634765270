import os

if "TORCHELASTIC_RUN_ID" in os.environ:
    # A rank started by torchrun: ask to end with it before the seconds of imports below, so
    # that a launcher killed while its ranks start leaves none of them behind.
    from layerwise.signals import TORCHRUN, die_with_parent

    die_with_parent(parent_runs=TORCHRUN)

from layerwise.cli.main import main  # noqa: E402 - after the request above

raise SystemExit(main())
