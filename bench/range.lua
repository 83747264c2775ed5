-- Random Range requests for wrk:  wrk -s range.lua URL -- <file bytes> <range bytes>
-- Each request asks for <range bytes> at a uniformly random start inside the file.
local file_bytes, range_bytes

function init(args)
   file_bytes = tonumber(args[1])
   range_bytes = tonumber(args[2])
   if not file_bytes or not range_bytes or range_bytes > file_bytes then
      error("usage: wrk -s range.lua URL -- <file bytes> <range bytes>")
   end
   math.randomseed(os.time())
end

function request()
   local start = math.random(0, file_bytes - range_bytes)
   local range = string.format("bytes=%d-%d", start, start + range_bytes - 1)
   return wrk.format(nil, nil, { ["Range"] = range })
end
