-- wrk script: each request a never-seen valid mobile from ~30 countries.
-- With `-- one` after the URL it does the same work per request but sends
-- one number every time: wrk shares the cores with tollgate, and this Lua
-- costs it more than fixed.lua's static request, so the flood is compared
-- with that run (benches/proxy.rs).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2tlbg=="
-- prefix, digits after it (E.164 lengths of each plan's mobiles)
local plans = {
  {"4474", 8}, {"4477", 8}, {"4915", 9}, {"4917", 8}, {"336", 8}, {"337", 8}, {"393", 9}, {"346", 8},
  {"3161", 7}, {"4860", 7}, {"2348", 9}, {"2547", 8}, {"2332", 8}, {"9198", 8}, {"9197", 8}, {"6281", 9},
  {"8491", 7}, {"6391", 8}, {"5511", 9}, {"5521", 9}, {"5255", 8}, {"5411", 9}, {"9053", 8}, {"7916", 7},
  {"38067", 7}, {"6012", 7}, {"2519", 8}, {"6591", 7}, {"8210", 8}, {"8190", 8},
}
local one_number = false
function init(args)
  one_number = args[1] == "one"
end
math.randomseed(os.time())
request = function()
  local p = plans[math.random(#plans)]
  local digits = ""
  for _ = 1, p[2] do digits = digits .. math.random(0, 9) end
  local to = p[1] .. digits
  if one_number then to = "447400123456" end
  return wrk.format(nil, "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json", nil,
    "To=%2B" .. to .. "&From=%2B15005550006&Body=Your+code+is+123456")
end
