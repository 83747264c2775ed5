-- HLS segments for wrk:  wrk -s hls_segments.lua URL -- <path prefix> <segment count>
-- Each request asks for the next segment, round robin, so every one is made anew.
local prefix, count, n

function init(args)
   prefix = args[1]
   count = tonumber(args[2])
   if not prefix or not count or count < 1 then
      error("usage: wrk -s hls_segments.lua URL -- <path prefix> <segment count>")
   end
   n = 0
end

function request()
   n = (n + 1) % count
   return wrk.format("GET", prefix .. n .. ".m4s")
end
