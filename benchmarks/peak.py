"""Run a module (`-m NAME`) or a script in this process, then print its peak resident memory as the last line of
stderr: `{"peak_rss_mb": N}` from Linux's VmHWM, which starts afresh at this process's exec. Both sides of a
memory comparison run under it, so each pays the same wrapper (a few MB of the interpreter).
Run: python benchmarks/peak.py -m toxmix.app.cli manifest materialize M.yaml | python benchmarks/peak.py SCRIPT ARGS
"""

import json
import runpy
import sys
from pathlib import Path


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status: Linux only")


def main(argv: list[str]) -> int:
    module = argv[0] == "-m"
    target, args = (argv[1], argv[2:]) if module else (argv[0], argv[1:])
    sys.argv = [target, *args]
    code = 0
    try:
        runpy.run_module(target, run_name="__main__", alter_sys=True) if module else runpy.run_path(
            target, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    print(json.dumps({"peak_rss_mb": round(vm_hwm_mb(), 1)}), file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
