-- wrk script of the live-list benchmark (bench/live_list.py): each connection is one open list tab
-- asking "anything new?" with a signed-in session, a random pause of 0.5..1.5×PAUSE_MS between asks (so the
-- tabs spread out as real ones do), counting answers by status. Prints "BENCH_RESULT {json}" at the end.
-- A browser sends its request as soon as it opens a connection and waits with the connection idle, so
-- each connection's first request goes at once, and pauses stay below gunicorn's 5 s keep-alive (wrk
-- would otherwise reconnect and wait before writing, holding a server thread as no browser does).
-- Usage: wrk ... -s bench/live_poll.lua http://127.0.0.1:PORT/admin/mg-digital-leads/live?after=N -- COOKIE PAUSE_MS CONNECTIONS

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Cookie"] = args[1]
  wrk.headers["HX-Request"] = "true"
  pause = tonumber(args[2])
  statuses = {}
  first_requests = tonumber(args[3] or "0")
end

function delay()
  if pause == 0 then return 0 end
  if first_requests > 0 then
    first_requests = first_requests - 1
    return 0
  end
  return math.random(pause / 2, pause * 3 / 2)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local pairs_text = {}
  for status, count in pairs(counts) do
    table.insert(pairs_text, string.format('"%d": %d', status, count))
  end
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    table.concat(pairs_text, ", ")))
end
