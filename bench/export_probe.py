"""Run one CSV export in this process and print rows, seconds and peak memory as JSON (benchmark 3, in-process)."""
import json
import sys
import time
from datetime import date

from bench.servers import memory_kib
from webapp import create_app
from webapp.extensions import db
from webapp.leads.export import export_csv
from webapp.leads.search import LeadFilters


def main() -> None:
    """`python -m bench.export_probe [DATE_FROM]`: export every lead (since DATE_FROM) to nowhere."""
    filters = LeadFilters(date_from=date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else None)
    app = create_app()
    with app.app_context():
        "".join(export_csv(LeadFilters(q="warm-up-matches-nothing")))
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the peak (VmHWM) to the current RSS
        baseline = memory_kib("self")["VmRSS"]
        counter, size, started = [0], 0, time.perf_counter()
        for chunk in export_csv(filters, counter):
            size += len(chunk)
        seconds = time.perf_counter() - started
        db.session.remove()
    peak = memory_kib("self")["VmHWM"]
    print(json.dumps({"rows": counter[0], "bytes": size, "seconds": seconds,
                      "baseline_mib": baseline / 1024, "peak_above_mib": (peak - baseline) / 1024}))


if __name__ == "__main__":
    main()
