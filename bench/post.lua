-- wrk script for the benchmark: POST the body in the file named by
-- AGD_BENCH_BODY as JSON on keep-alive connections, and print one line
-- "WRKJSON {...}" with the totals and latency percentiles (microseconds).
local f = assert(io.open(os.getenv("AGD_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
-- AGD_BENCH_AUTH: an Authorization header value (the accounting workload's
-- client key), the same for every system measured.
local auth = os.getenv("AGD_BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
-- AGD_BENCH_HEADERS: more header lines "Name: value", one per line (what a
-- peer gateway needs to route, e.g. Portkey's x-portkey-provider).
local more = os.getenv("AGD_BENCH_HEADERS")
if more then
   for name, value in more:gmatch("([^:\n]+):%s*([^\n]*)") do wrk.headers[name] = value end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
