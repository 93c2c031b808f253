"""``python -m bench run [--quick|--smoke] [--duration S] [--json out.json]``."""

from bench.runner import main

if __name__ == "__main__":
    raise SystemExit(main())
