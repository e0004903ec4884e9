-- wrk script: the same Twilio send every time.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2tlbg=="
wrk.body = "To=%2B447400123456&From=%2B15005550006&Body=Your+code+is+123456"
wrk.path = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
