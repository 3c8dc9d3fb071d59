-- wrk script of the live-list benchmark (bench/live_list.py): each connection is one open list tab
-- asking "anything new?" with a signed-in session, a random pause of 0.5..1.5×PAUSE_MS between asks (so the
-- tabs spread out as real ones do), counting answers by status. Prints "BENCH_RESULT {json}" at the end.
-- A browser sends its request as soon as it opens a connection and waits with the connection idle, so
-- each connection's first request goes at once, and pauses stay below gunicorn's 5 s keep-alive (wrk
-- would otherwise reconnect and wait before writing, holding a server thread as no browser does).
-- A tab asks from the newest id it was told (X-Newest-Id) at its last ask, one pause ago, as live.js does: the
-- script keeps each second's newest id and asks from the one a pause back (one Lua state serves every
-- connection, so a tab's own last answer is not at hand).
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
  newest_by_second = {}  -- {{second, newest id told then}, ...}, oldest first
end

function request()
  local cutoff = os.time() - math.ceil(pause / 1000)
  for i = #newest_by_second, 1, -1 do
    if newest_by_second[i][1] <= cutoff then
      return wrk.format(nil, (wrk.path:gsub("after=%d+", "after=" .. newest_by_second[i][2])))
    end
  end
  return wrk.format(nil, wrk.path)
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
  local newest = tonumber(headers["X-Newest-Id"])
  if newest then
    local now, last = os.time(), newest_by_second[#newest_by_second]
    if last and last[1] == now then
      last[2] = math.max(last[2], newest)
    else
      table.insert(newest_by_second, {now, newest})
    end
  end
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
