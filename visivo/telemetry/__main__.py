"""``python -m visivo.telemetry``: the same CLI as ``visivo-telemetry``."""

from visivo.telemetry.cli import main

if __name__ == "__main__":
    main()
