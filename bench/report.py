"""Markdown report of a benchmark run (bench.py's results dict)."""

from stats import ratio


def f0(x):
    return "–" if x is None else "{:,.0f}".format(x)


def f1(x):
    return "–" if x is None else "{:,.1f}".format(x)


def f2(x):
    return "–" if x is None else "{:.2f}".format(x)


def mib(kib):
    return "–" if kib is None else "{:.1f}".format(kib / 1024.0)


def verdict(ok):
    if ok is None:
        return "n/a"
    return "met" if ok else "**not met**"


def _le(a, b):
    return None if a is None or b is None else a <= b


def _ge(a, b):
    return None if a is None or b is None else a >= b


def _added_ratio(a, n, floor=10.0):
    """agd's added delay over nginx's, the denominator floored at `floor` µs
    (nginx's added delay is often within noise of zero)."""
    if a is None or n is None:
        return None
    return a / max(n, floor)


# The goals a workload's rows are reported against (docs/BENCHMARKS.md):
# ratios to nginx (requests/s at least, CPU per request, system calls,
# added p99 and RSS at most). Plain passthrough and an https upstream.
PASSTHROUGH_GOALS = {"rps": 0.80, "cpu": 1.05, "p99": 1.05}
HTTPS_GOALS = {"rps": 0.90, "cpu": 1.15, "syscalls": 1.00, "rss": 2.00}
# Translation against nginx's plain passthrough.
TRANSLATION_GOAL = 0.85


def passthrough_rows(row, label, s, goals, rss=False):
    """The table rows of workload 1's procedure (workload 1, and workload 7
    on an https upstream); goals: a dict of PASSTHROUGH_GOALS' keys (a
    figure without one has no goal)."""
    A, N, D = s.get("agd", {}), s.get("nginx", {}), s.get("direct", {})

    def goal(key, value, at_least=False):
        if key not in goals:
            return ("", "")
        g = goals[key]
        return ("%s %.2f" % ("≥" if at_least else "≤", g), verdict(_ge(value, g) if at_least else _le(value, g)))
    rb = s.get("rig_bound", {})
    rr = ratio(A.get("rps"), N.get("rps"))
    flag = ""
    if rb.get("nginx") or rb.get("agd"):
        flag = " (rig-bound: within 10% of the mock's ceiling)"
    g, v = goal("rps", rr, at_least=True)
    row(label, "requests/s at saturation (mock alone: %s)" % f0(D.get("rps")),
        f0(A.get("rps")), f0(N.get("rps")), f2(rr), g, v + flag)

    def util(x):
        u = x.get("cpu_util")
        return "–" if u is None else "%.0f%%" % (u * 100)
    bound = [nm for nm, x in (("antigravityd", A), ("nginx", N)) if x.get("cpu_util") is not None
             and x["cpu_util"] < 0.9]
    row(label, "CPU use of the SUT's core at saturation", util(A), util(N), "", "",
        ("below 90%% for %s: its requests/s are bounded by the load side (CPU per request is the "
         "robust figure)" % " and ".join(bound)) if bound else "")
    rc = ratio(A.get("cpu_us_per_req"), N.get("cpu_us_per_req"))
    g, v = goal("cpu", rc)
    row(label, "CPU time per request (µs)", f1(A.get("cpu_us_per_req")), f1(N.get("cpu_us_per_req")), f2(rc), g, v)
    rs = ratio(A.get("syscalls_per_req"), N.get("syscalls_per_req"))
    g, v = goal("syscalls", rs)
    row(label, "system calls per request", f1(A.get("syscalls_per_req")),
        f1(N.get("syscalls_per_req")), f2(rs), g, v)
    row(label, "latency at 1 request at a time, p50 / p99 (µs; mock alone: %s / %s)"
        % (f0(D.get("lat_p50_us")), f0(D.get("lat_p99_us"))),
        "%s / %s" % (f0(A.get("lat_p50_us")), f0(A.get("lat_p99_us"))),
        "%s / %s" % (f0(N.get("lat_p50_us")), f0(N.get("lat_p99_us"))), "", "", "")
    row(label, "added latency p50 (µs)", f0(A.get("added_p50_us")), f0(N.get("added_p50_us")),
        f2(ratio(A.get("added_p50_us"), N.get("added_p50_us"))), "", "")
    r99 = _added_ratio(A.get("added_p99_us"), N.get("added_p99_us"))
    g, v = goal("p99", r99)
    row(label, "added latency p99 (µs)", f0(A.get("added_p99_us")), f0(N.get("added_p99_us")), f2(r99), g, v)
    if rss:
        a, n = A.get("rss_after_load_kib"), N.get("rss_after_load_kib")
        g, v = goal("rss", ratio(a, n))
        row(label, "RSS after the saturation rounds (MiB; both restarted before them)", mib(a), mib(n),
            f2(ratio(a, n)), g, v)
    if A.get("errors") or N.get("errors"):
        row(label, "errors or non-2xx answers", f0(A.get("errors")), f0(N.get("errors")), "", "0",
            verdict(not A.get("errors")))


def translation_rows(row, label, direction, w, n_rps):
    """Workload 2's or 8's rows: antigravityd translating against nginx's
    passthrough."""
    if not w:
        return
    fig = "requests/s, %s (nginx: passthrough)" % direction
    if w.get("status") == "measured":
        s = w["summary"]
        n_rps = s.get("nginx_passthrough_rps") or n_rps
        r = ratio(s.get("agd_rps"), n_rps)
        row(label, fig, f0(s.get("agd_rps")), f0(n_rps), f2(r), "≥ %.2f" % TRANSLATION_GOAL,
            verdict(_ge(r, TRANSLATION_GOAL)))
        row(label, "CPU time per request (µs)", f1(s.get("agd_cpu_us_per_req")), "", "", "", "")
    else:
        row(label, fig, w.get("status", "not yet"), f0(n_rps), "", "≥ %.2f" % TRANSLATION_GOAL, "not yet")


def markdown(res):
    m = res.get("meta", {})
    have_nginx = "nginx" in (res.get("w1", {}).get("summary") or {}) or \
        "nginx" in (res.get("w5", {}).get("idle_after_start") or {})
    L = []
    L.append("# antigravityd benchmark: %s" % m.get("date", "?"))
    L.append("")
    L.append("- commit `%s`%s" % (m.get("commit"), " plus %d uncommitted change(s) in the work tree"
                                   % m["uncommitted_changes"] if m.get("uncommitted_changes") else ""))
    L.append("- machine: %s, %s CPU(s), kernel %s; %s" % (m.get("cpu"), m.get("cpus"), m.get("kernel"),
                                                         m.get("placement")))
    L.append("- mode `%s`, %s round(s) A B (antigravityd, nginx); load average %s at start, %s at end; "
             "%s s in all" % (m.get("mode"), (m.get("params") or {}).get("rounds"),
                              " ".join(m.get("loadavg_start") or []), " ".join(m.get("loadavg_end") or []),
                              m.get("seconds")))
    t = m.get("tools") or {}
    L.append("- antigravityd: `%s` %s, `log_level = %s`, one worker; fast mock: %s; tools: %s"
             % (m.get("agd_bin"), m.get("agd_build") or "", m.get("agd_log_level"), m.get("fast_mock"),
                ", ".join("%s" % v for v in t.values() if v)))
    L.append("")
    L.append("Medians over the rounds; ratio = antigravityd / nginx. \"Added\" = through the proxy minus "
             "straight to the mock. Goals are targets to report against, not assertions.")
    L.append("")
    L.append("| workload | figure | antigravityd | nginx | ratio | goal | verdict |")
    L.append("|---|---|---:|---:|---:|---|---|")

    def row(w, fig, a, n, r, goal="", v=""):
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (w, fig, a, n, r, goal, v))

    # Workload 1
    w1 = (res.get("w1") or {}).get("summary")
    if w1:
        passthrough_rows(row, "1 passthrough", w1, goals=PASSTHROUGH_GOALS)
    # Workload 2: translation, against nginx's passthrough
    n_rps = (w1 or {}).get("nginx", {}).get("rps") if w1 else None
    translation_rows(row, "2 translation", "OpenAI client → Anthropic upstream", res.get("w2"), n_rps)
    # Workload 3
    w3 = (res.get("w3") or {}).get("summary")
    if w3:
        p = res["w3"]["params"]
        A, N, D = w3.get("agd", {}), w3.get("nginx", {}), w3.get("direct", {})
        row("3 SSE", "added time to first chunk p50 (µs; mock alone: %s)" % f0(D.get("ttfc_p50_us")),
            f0(A.get("added_ttfc_p50_us")), f0(N.get("added_ttfc_p50_us")), "", "≤ 250 µs",
            verdict(_le(A.get("added_ttfc_p50_us"), 250)))
        a99, n99 = A.get("added_ttfc_p99_us"), N.get("added_ttfc_p99_us")
        row("3 SSE", "added time to first chunk p99 (µs; mock alone: %s)" % f0(D.get("ttfc_p99_us")),
            f0(a99), f0(n99), "", "≤ nginx + 20 µs",
            verdict(_le(a99 - n99, 20) if a99 is not None and n99 is not None else None))
        row("3 SSE", "added per-chunk delay p50 (µs; one-way via stamps; mock alone: %s)"
            % f0(D.get("chunk_delay_p50_us")),
            f0(A.get("added_chunk_p50_us")), f0(N.get("added_chunk_p50_us")), "", "", "")
        rc = _added_ratio(A.get("added_chunk_p99_us"), N.get("added_chunk_p99_us"))
        row("3 SSE", "added per-chunk delay p99 (µs; mock alone: %s)" % f0(D.get("chunk_delay_p99_us")),
            f0(A.get("added_chunk_p99_us")), f0(N.get("added_chunk_p99_us")), f2(rc), "≤ 2", verdict(_le(rc, 2)))

        def lm(x, k):
            s = x.get(k)
            if not s:
                return "–"
            return "%d / %d (%d/%d streams complete)" % (s["lost_chunks"], s["merged_events"], s["complete"],
                                                           s["streams"])
        okp = A.get("paced") and A["paced"]["lost_chunks"] == 0 and A["paced"]["merged_events"] == 0 \
            and A["paced"]["complete"] == A["paced"]["streams"]
        row("3 SSE", "%d chunks %d ms apart: lost / merged chunks" % (p["chunks"], p["pace_ms"]),
            lm(A, "paced"), lm(N, "paced"), "", "0 / 0", verdict(okp if A.get("paced") else None))
        okb = A.get("burst") and A["burst"]["lost_chunks"] == 0 and A["burst"]["complete"] == A["burst"]["streams"]
        row("3 SSE", "unpaced burst of %d: lost / merged chunks" % p["burst_chunks"],
            lm(A, "burst"), lm(N, "burst"), "", "0 lost", verdict(okb if A.get("burst") else None))
        row("3 SSE", "unpaced burst of %d: request to last chunk p50 (µs; mock alone: %s)"
            % (p["burst_chunks"], f0(D.get("burst_request_to_last_p50_us"))),
            f0(A.get("burst_request_to_last_p50_us")), f0(N.get("burst_request_to_last_p50_us")),
            f2(ratio(A.get("burst_request_to_last_p50_us"), N.get("burst_request_to_last_p50_us"))), "", "")
    # Workload 4
    w4 = res.get("w4")
    if w4 and w4.get("summary"):
        s = w4["summary"]
        A, N = s.get("agd", {}), s.get("nginx", {})
        for i, level in enumerate(w4["levels"]):
            la = (A.get("levels") or [{}] * (i + 1))[i]
            ln = (N.get("levels") or [{}] * (i + 1))[i] if N else {}
            row("4 streams", "%s streams: rounds with all established" % f0(level),
                "%s/%d" % (la.get("all_established_rounds", "–"), len(w4["rounds"])),
                "%s/%d" % (ln.get("all_established_rounds", "–"), len(w4["rounds"])) if N else "–", "", "", "")
            r = ratio(la.get("rss_per_stream_kib"), ln.get("rss_per_stream_kib"))
            is_top = i == len(w4["levels"]) - 1
            row("4 streams", "%s streams: RSS per stream (KiB)" % f0(level), f1(la.get("rss_per_stream_kib")),
                f1(ln.get("rss_per_stream_kib")), f2(r), "≤ 1.00" if is_top else "",
                verdict(_le(r, 1.0)) if is_top else "")

        def comp(x):
            if not x:
                return "–"
            errs = {}
            for e in x.get("errors", []):
                for k, v in e.items():
                    errs[k] = errs.get(k, 0) + v
            return "%s of %s%s" % ("+".join(str(c) for c in x["complete"]), "+".join(str(c) for c in x["streams"]),
                                   (" (" + ", ".join("%s: %d" % kv for kv in errs.items()) + ")") if errs else "")
        row("4 streams", "%s streams held %d s: completed, per round" % (f0(w4["levels"][-1]), w4["hold_s"]),
            comp(A), comp(N), "", "no error", verdict(A.get("all_complete_every_round")))
        row("4 streams", "idle CPU while %s streams are held (%% of a core)" % f0(w4["levels"][-1]),
            f2(A.get("idle_cpu_pct")), f2(N.get("idle_cpu_pct")), "", "", "")
    # Workload 5
    w5 = res.get("w5")
    if w5:
        ia = w5.get("idle_after_start", {})
        idle_a = ia.get("agd", {}).get("rss_kib")
        idle_n = ia.get("nginx", {}).get("rss_kib")
        if w4 and w4.get("summary"):  # every W4 round restarts the SUTs: more idle samples
            idle_a = w4["summary"].get("agd", {}).get("idle_rss_after_start_kib", idle_a)
            if "nginx" in w4["summary"]:
                idle_n = w4["summary"]["nginx"].get("idle_rss_after_start_kib", idle_n)
        row("5 memory", "idle RSS after start (MiB; nginx: worker process, worker_connections 40000)", mib(idle_a), mib(idle_n),
            f2(ratio(idle_a, idle_n)), "≤ 10 MiB", verdict(_le(idle_a, 10 * 1024)))
        ul = w5.get("under_load")
        if ul:
            a = ul["after_load"].get("agd", {}).get("rss_kib")
            n = ul["after_load"].get("nginx", {}).get("rss_kib")
            row("5 memory", "RSS after %.0f s of workload 1 (MiB)" % ul["seconds_per_sut"], mib(a), mib(n),
                f2(ratio(a, n)), "", "")
    # Workload 6: accounting on against off (both antigravityd; the nginx column
    # holds the "off" figure, the ratio is on / off).
    w6 = (res.get("w6") or {}).get("summary")
    if w6:
        on, off = w6.get("on", {}), w6.get("off", {})
        row("6 accounting", "CPU µs per request, store + metrics on (nginx column: off)",
            f1(on.get("cpu_us_per_req")), f1(off.get("cpu_us_per_req")), f2(w6.get("cpu_ratio")), "≤ 1.05",
            verdict(_le(w6.get("cpu_ratio"), 1.05)))
        cl = w6.get("client") or {}
        if cl:
            row("6 accounting", "CPU µs per request, also a named client with limits (nginx column: off)",
                f1(cl.get("cpu_us_per_req")), f1(off.get("cpu_us_per_req")), f2(w6.get("client_cpu_ratio")), "",
                "")
        row("6 accounting", "requests/s at saturation, on (nginx column: off)", f0(on.get("rps")),
            f0(off.get("rps")), f2(ratio(on.get("rps"), off.get("rps"))), "", "")
    # Workload 7: workload 1 with an https upstream
    w7 = res.get("w7")
    if w7:
        if w7.get("summary"):
            passthrough_rows(row, "7 https upstream", w7["summary"], goals=HTTPS_GOALS, rss=True)
        else:
            row("7 https upstream", "requests/s at saturation", w7.get("status", "not measured"), "", "", "", "n/a")
    # Workload 8: translation the other way, against nginx's passthrough
    translation_rows(row, "8 translation", "Anthropic client → OpenAI upstream", res.get("w8"), n_rps)
    L.append("")
    if not have_nginx:
        L.append("nginx was not available: the nginx column is empty.")
        L.append("")
    notes = res.get("notes") or []
    if notes:
        L.append("Notes:")
        L.append("")
        for n in notes:
            L.append("- " + n)
        L.append("")
    L += peers_table(res)
    L += details(res)
    return "\n".join(L) + "\n"


def peers_table(res):
    """The peers of --peers: each against nginx's passthrough in the same rounds."""
    pr = res.get("peers")
    if not pr:
        return []
    L = ["## Peers", "",
         "Other gateways on the SUT's CPU in front of the same fast mock (`--peers`; npm packages cached in "
         "`%s`); medians over the rounds, ratio = peer / nginx's passthrough in the same rounds." % pr.get("cache"),
         "",
         "| peer | workload | requests/s | CPU time per request (µs) | RSS after (MiB) | nginx passthrough "
         "requests/s | ratio |",
         "|---|---|---:|---:|---:|---:|---:|"]
    for run in pr.get("runs", []):
        who = "%s %s" % (run["peer"], run.get("version") or "")
        what = "%s %s" % (run["workload"][1:], run["label"])
        s = run.get("summary")
        if s:
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                who.strip(), what, f0(s.get("rps")) + (" (%d errors)" % s["errors"] if s.get("errors") else ""),
                f1(s.get("cpu_us_per_req")), mib(s.get("rss_kib")),
                f0(s.get("nginx_passthrough_rps")), f2(ratio(s.get("rps"), s.get("nginx_passthrough_rps")))))
        else:
            L.append("| %s | %s | %s |  |  |  |  |" % (who.strip(), what, run.get("status", "not measured")))
    L.append("")
    return L


def passthrough_details(L, what, w):
    """Per-round tables of workload 1's procedure (what: "Workload 1")."""
    L.append(what + ", saturation (requests/s; CPU µs per request; SUT CPU utilisation):")
    L.append("")
    L.append("| round | mock alone | antigravityd | nginx | ratio |")
    L.append("|---:|---:|---:|---:|---:|")
    for r in w["rounds"]:
        a, n = r.get("agd", {}), r.get("nginx", {})
        L.append("| %d | %s | %s (%s µs, %s%%) | %s | %s |" % (
            r["round"], f0(r["direct"]["rps"]), f0(a.get("rps")), f1(a.get("cpu_us_per_req")),
            f0((a.get("cpu_util") or 0) * 100),
            ("%s (%s µs, %s%%)" % (f0(n.get("rps")), f1(n.get("cpu_us_per_req")),
                                   f0((n.get("cpu_util") or 0) * 100))) if n else "–",
            f2(ratio(a.get("rps"), n.get("rps")))))
    L.append("")
    L.append(what + ", one request at a time (µs, p50 / p99):")
    L.append("")
    L.append("| round | mock alone | antigravityd | nginx | added p99 ratio |")
    L.append("|---:|---:|---:|---:|---:|")
    for r in w["latency_rounds"]:
        a, n, d = r.get("agd", {}), r.get("nginx", {}), r["direct"]
        L.append("| %d | %s / %s | %s / %s | %s | %s |" % (
            r["round"], f0(d["p50_us"]), f0(d["p99_us"]), f0(a.get("p50_us")), f0(a.get("p99_us")),
            ("%s / %s" % (f0(n.get("p50_us")), f0(n.get("p99_us")))) if n else "–",
            f2(_added_ratio(a.get("added_p99_us"), n.get("added_p99_us")))))
    L.append("")
    if w.get("syscall_rounds"):
        L.append(what + ", system calls per request: " + "; ".join(
            "round %d: %s" % (r["round"], ", ".join(
                "%s %s" % (k, f1((r.get(k) or {}).get("per_request"))) for k in ("agd", "nginx") if k in r))
            for r in w["syscall_rounds"]))
        L.append("")
    prof = w.get("profile") or {}
    st = {k: v.get("strace") for k, v in prof.items() if v.get("strace")}
    if st:
        names = sorted(set().union(*[set(v["per_request"]) for v in st.values()]),
                       key=lambda k: -max(v["per_request"].get(k, 0) for v in st.values()))
        L.append(what + ", `strace -c -f` over a short run at 16 connections (calls per request):")
        L.append("")
        L.append("| system call | " + " | ".join(st) + " |")
        L.append("|---|" + "---:|" * len(st))
        for k in names[:14]:
            L.append("| %s | %s |" % (k, " | ".join(f2(v["per_request"].get(k)) for v in st.values())))
        L.append("| total | %s |" % " | ".join(f1(v["total_per_request"]) for v in st.values()))
        L.append("")
    pf = {k: v.get("perf") for k, v in prof.items() if v.get("perf")}
    for k, v in pf.items():
        L.append("`perf record` of %s under %s, by shared object (top):" % (k, what.lower()))
        L.append("")
        L.append("```")
        L += [ln.rstrip() for ln in v["by_dso"][:10]]
        L.append("```")
        L.append("")


def details(res):
    L = ["## Per round", ""]
    w1 = res.get("w1")
    if w1 and w1.get("rounds"):
        passthrough_details(L, "Workload 1", w1)
    w7 = res.get("w7")
    if w7 and w7.get("rounds"):
        tls = w7.get("tls") or {}
        L.append("Workload 7: the https mock negotiates %s with %s; antigravityd trusts the test CA by %s."
                 % (tls.get("version", "?"), tls.get("cipher", "?"), w7.get("trust")))
        L.append("")
        passthrough_details(L, "Workload 7", w7)

    w3 = res.get("w3")
    if w3 and w3.get("rounds"):
        L.append("Workload 3 (µs): time to first chunk p50 / p99, per-chunk one-way delay p50 / p99:")
        L.append("")
        L.append("| round | target | first chunk p50 / p99 | per-chunk p50 / p99 | burst: request to last chunk |")
        L.append("|---:|---|---:|---:|---:|")
        for r in w3["rounds"]:
            for k in ("direct", "agd", "nginx"):
                x = r.get(k)
                if not x:
                    continue
                L.append("| %d | %s | %s / %s | %s / %s | %s |" % (
                    r["round"], k, f0(x["ttfc_p50_us"]), f0(x["ttfc_p99_us"]), f0(x["chunk_delay_p50_us"]),
                    f0(x["chunk_delay_p99_us"]), f0(x["burst_request_to_last_p50_us"])))
        L.append("")
    w4 = res.get("w4")
    if w4 and w4.get("rounds"):
        L.append("Workload 4 (RSS in MiB at each level; idle CPU in % of a core):")
        L.append("")
        L.append("| round | target | RSS before | " + " | ".join("RSS at %s" % f0(x) for x in w4["levels"]) +
                 " | seconds to establish | idle CPU | completed | errors |")
        L.append("|---:|---|---:|" + "---:|" * len(w4["levels"]) + "---:|---:|---:|---|")
        for r in w4["rounds"]:
            for k in ("agd", "nginx"):
                x = r.get(k)
                if not x:
                    continue
                L.append("| %d | %s | %s | %s | %s | %s | %d/%d | %s |" % (
                    r["round"], k, mib(x["rss_base_kib"]), " | ".join(mib(lv["rss_kib"]) for lv in x["levels"]),
                    " + ".join(f1(lv["seconds_to_establish"]) for lv in x["levels"]), f2(x.get("idle_cpu_pct")),
                    x["complete"], x["streams"], ", ".join("%s: %d" % kv for kv in x["errors"].items()) or "none"))
        L.append("")
    return L
