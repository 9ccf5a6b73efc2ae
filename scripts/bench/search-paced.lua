-- wrk script: the query mix of search.lua at a paced rate instead of a closed loop. Each
-- connection waits a random (exponential) think time between requests, so that requests
-- arrive about as from independent shoppers at RATE requests/s over CONNECTIONS connections.
-- Usage: wrk -t2 -c16 -d20s --latency -s scripts/bench/search-paced.lua URL -- RATE 16
dofile("scripts/bench/search.lua")

local mean_delay_ms = 50

init = function(args)
  local rate = tonumber(args[1]) or 300
  local connections = tonumber(args[2]) or 16
  mean_delay_ms = connections * 1000 / rate
end

delay = function()
  return math.floor(-math.log(1 - math.random()) * mean_delay_ms)
end
