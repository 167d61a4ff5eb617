"""`make soak`: steady load on one gateway worker; RSS growth after warm-up (spec §9)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.harness import ROOT, run_wrk
from bench.run import CHAT, LOAD_CPU, Bench, gateway_config, start_upstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as tmp:
        workdir = Path(tmp)
        upstream = start_upstream(workdir)
        upstream_port = upstream.port
        bench = Bench(workdir, 1.0, smoke=False)
        gw = bench.start_gateway("gateway-soak", gateway_config(upstream_port))
        url = f"http://127.0.0.1:{gw.port}/v1/chat/completions"
        try:
            # One minute of warm-up fills caches and pools; growth is measured after it.
            warm = min(60.0, args.minutes * 60 / 10)
            run_wrk(url, CHAT, connections=64, duration_s=warm, cpu=LOAD_CPU, workdir=workdir)
            start_rss = gw.rss_mb()
            samples = [start_rss]
            remaining = args.minutes * 60 - warm
            total_requests = errors = 0
            while remaining > 0:
                step = min(60.0, remaining)
                result = run_wrk(
                    url, CHAT, connections=64, duration_s=step, cpu=LOAD_CPU, workdir=workdir
                )
                total_requests += result.requests
                errors += result.errors + result.non_2xx
                samples.append(gw.rss_mb())
                print(
                    f"  {time.strftime('%H:%M:%S')} {result.rps:.0f} req/s, "
                    f"RSS {samples[-1]:.1f} MB",
                    flush=True,
                )
                remaining -= step
        finally:
            gw.stop()
            upstream.stop()
    growth = (samples[-1] - start_rss) / start_rss * 100
    report = {
        "minutes": args.minutes,
        "rss_start_mb": round(start_rss, 1),
        "rss_end_mb": round(samples[-1], 1),
        "rss_samples_mb": samples,
        "soak_rss_growth_pct": round(growth, 2),
        "requests": total_requests,
        "errors": errors,
    }
    print(json.dumps(report, indent=2))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
