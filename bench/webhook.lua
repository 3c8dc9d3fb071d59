-- wrk script of the webhook benchmark (bench/wrk.py): POSTs a distinct lead per request as CarDekho does,
-- counts every answer's status, and prints one line "BENCH_RESULT {json}" when the run ends.
-- With PAUSE_MS, each connection waits that long (0.5..1.5×, at random) after each answer: a steady pace, as
-- leads arrive, instead of as fast as the server answers.
-- Usage: wrk ... -s bench/webhook.lua http://127.0.0.1:PORT/admin/mg-digital-leads/source/cardekho -- API_KEY [PAUSE_MS]

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json; charset=utf-8"
  wrk.headers["X-API-Key"] = args[1]
  pause = tonumber(args[2] or "0")
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  -- A different name and a valid Indian mobile number each time, so every row is a lead of its own.
  local number = (thread_number * 100000000 + sent) % 1000000000
  local body = string.format(
    '{"name": "Bench Lead %d-%d", "phone_number": "9%09d", "car_model": "MG Windsor EV", ' ..
    '"lead_url": "https://cardekho.com/leads/%d", "campaign": "EV Awareness Q4", "utm_source": "cardekho_ads"}',
    thread_number, sent, number, sent)
  return wrk.format(nil, nil, nil, body)
end

function delay()
  if pause == 0 then return 0 end
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
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect, errors.read, errors.write, errors.timeout, table.concat(pairs_text, ", ")))
end
