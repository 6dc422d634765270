#!/usr/bin/env python3
"""Run one command on each of N simulated hosts (network namespaces on this Linux machine,
as root), e.g. a two-machine job:

    python scripts/simulated_hosts.py --hosts 2 --rate 1gbit -- \\
        layerwise launch --nnodes 2 --nproc-per-node 1 --rdzv-endpoint lwhost0:29400 -- \\
        train softmax --steps 200

Host i is named lwhostI (address 10.77.0.I+1, in every host's hosts file); its output is shown
prefixed with its name. The hosts are removed at the end, also after Ctrl-C. Exit status: the
first non-zero one of the hosts' commands.
"""

import argparse
import sys
import threading

from layerwise.distributed.simhosts import HostsError, SimulatedHosts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--rate", help="shape every host's link (tc syntax, e.g. 1gbit)")
    p.add_argument("--delay", help="add a delay to every link (netem, e.g. 0.1ms)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS on every host")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command to run on every host after --")
    try:
        with SimulatedHosts(args.hosts) as hosts:
            if args.rate or args.delay:
                print(f"links: {args.rate or ''} {args.delay or ''} "
                      f"({hosts.link(args.rate, args.delay)})", file=sys.stderr)
            procs = [hosts.popen(i, command, env={"OMP_NUM_THREADS": str(args.threads)},
                                 stdout=-1, stderr=-2, text=True) for i in range(args.hosts)]

            def show(i):
                for line in procs[i].stdout:
                    print(f"[{hosts.hostnames[i]}] {line}", end="", flush=True)

            threads = [threading.Thread(target=show, args=(i,)) for i in range(args.hosts)]
            for t in threads:
                t.start()
            codes = [proc.wait() for proc in procs]
            for t in threads:
                t.join()
    except HostsError as exc:
        print(f"simulated_hosts: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simulated_hosts: interrupted; hosts removed", file=sys.stderr)
        return 130
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    sys.exit(main())
