-- wrk script: the fresh-number generator's work (fresh.lua) for every
-- request, but the same number every time. wrk shares the two cores with
-- tollgate, and a Lua `request` function costs it far more than the static
-- request of fixed.lua, so the fresh flood is compared with this run: the
-- only difference left is the numbers.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2tlbg=="
local plans = {
  {"4474", 8}, {"4477", 8}, {"4915", 9}, {"4917", 8}, {"336", 8}, {"337", 8}, {"393", 9}, {"346", 8},
  {"3161", 7}, {"4860", 7}, {"2348", 9}, {"2547", 8}, {"2332", 8}, {"9198", 8}, {"9197", 8}, {"6281", 9},
  {"8491", 7}, {"6391", 8}, {"5511", 9}, {"5521", 9}, {"5255", 8}, {"5411", 9}, {"9053", 8}, {"7916", 7},
  {"38067", 7}, {"6012", 7}, {"2519", 8}, {"6591", 7}, {"8210", 8}, {"8190", 8},
}
math.randomseed(os.time())
request = function()
  local p = plans[math.random(#plans)]
  local digits = ""
  for _ = 1, p[2] do digits = digits .. math.random(0, 9) end
  -- Built and dropped, as fresh.lua builds and sends it.
  local _ = "To=%2B" .. p[1] .. digits
  return wrk.format(nil, "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json", nil,
    "To=%2B447400123456&From=%2B15005550006&Body=Your+code+is+123456")
end
