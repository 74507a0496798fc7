# SMALL: argparse with subcommands + a tiny computation (primes).
import argparse
p = argparse.ArgumentParser(prog="tool", description="demo")
p.add_argument("--verbose", "-v", action="count", default=0)
sub = p.add_subparsers(dest="cmd")
pr = sub.add_parser("primes"); pr.add_argument("n", type=int); pr.add_argument("--sum", action="store_true")
fi = sub.add_parser("fib"); fi.add_argument("n", type=int)
args = p.parse_args(["-vv", "primes", "5000", "--sum"])
sieve = [True] * (args.n + 1)
for i in range(2, int(args.n ** 0.5) + 1):
    if sieve[i]:
        sieve[i * i::i] = [False] * len(sieve[i * i::i])
primes = [i for i in range(2, args.n + 1) if sieve[i]]
print(args.verbose, len(primes), sum(primes) if args.sum else None)
print(p.format_help()[:40])
