"""Demo workload: allocate memory in steps and keep it until the kernel's OOM killer ends the process.

Each step writes every byte of a new block, so the block counts in the container's RSS at once
(an untouched allocation would only reserve address space).
"""

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step-mib", type=int, default=1, help="MiB allocated at each step")
    parser.add_argument("--interval", type=float, default=40.0, help="seconds between steps")
    args = parser.parse_args()

    blocks = []
    while True:
        blocks.append(b"\x01" * (args.step_mib * 1024 * 1024))
        print(f"allocated {len(blocks) * args.step_mib} MiB", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
